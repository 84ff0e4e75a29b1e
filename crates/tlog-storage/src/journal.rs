//! `index.journal`: the dedup identities and search keys of recently committed batches, one
//! checksummed record per batch, appended with the batch's other files and synced before its
//! commit. The LSM tree that serves lookups gets the same rows right after the commit without
//! an fsync of its own; after a crash, recovery replays from here whatever it lost. Once the LSM
//! tree has synced them, the journal starts again from empty (see `index.rs`).
//!
//! Record (all integers big-endian):
//!
//! ```text
//! record  = length:u32  rows  check:[u8; 8]      ; length = byte length of rows
//! rows    = *( index:u64  identity:[u8; 32]  count:u8  count * key:[u8; 32] )
//! check   = SHA-256(length || rows)[..8]
//! ```
//!
//! Only the prefix recorded as committed in `index.redb` is ever read; a record in it that does
//! not decode or whose check does not match is damage, never a torn write (it was synced before
//! the commit that made it part of the prefix).

use sha2::{Digest as _, Sha256};

use crate::StorageError;
use crate::store::{IndexKey, MAX_INDEX_KEYS_PER_ENTRY};

/// File name in the log directory.
pub(crate) const JOURNAL_FILE: &str = "index.journal";

const CHECK_LEN: usize = 8;

/// One entry's rows as read back from the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JournalRow {
    pub index: u64,
    pub identity: [u8; 32],
    pub keys: Vec<IndexKey>,
}

/// One record holding `rows` (`(index, identity, keys)` per entry).
pub(crate) fn encode<'a>(
    rows: impl ExactSizeIterator<Item = (u64, &'a [u8; 32], &'a [IndexKey])>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + rows.len() * (41 + 3 * 32) + CHECK_LEN);
    out.extend_from_slice(&[0; 4]);
    for (index, identity, keys) in rows {
        // The log refuses more keys per entry long before this (NewEntry::check_limits).
        let count = keys.len().min(MAX_INDEX_KEYS_PER_ENTRY);
        out.extend_from_slice(&index.to_be_bytes());
        out.extend_from_slice(identity);
        out.push(count as u8);
        for key in &keys[..count] {
            out.extend_from_slice(&key.0);
        }
    }
    let length = u32::try_from(out.len() - 4).unwrap_or(u32::MAX);
    out[..4].copy_from_slice(&length.to_be_bytes());
    let check = Sha256::digest(&out);
    out.extend_from_slice(&check[..CHECK_LEN]);
    out
}

/// Every row of the records in `bytes` (the committed prefix of the journal), in order.
///
/// # Errors
/// [`StorageError::Corrupt`] when a record is cut short, malformed or fails its check.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<JournalRow>, StorageError> {
    let damaged = |at: usize, why: &str| {
        StorageError::Corrupt(format!(
            "{JOURNAL_FILE}: the record at byte {at} is damaged ({why}); the rows of the last \
             batches are lost: restore the directory from a backup"
        ))
    };
    let mut rows = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + 4)
            .ok_or_else(|| damaged(at, "cut short"))?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = at + 4 + length;
        let body = bytes.get(at..end).ok_or_else(|| damaged(at, "cut short"))?;
        let check = bytes
            .get(end..end + CHECK_LEN)
            .ok_or_else(|| damaged(at, "cut short"))?;
        if Sha256::digest(body)[..CHECK_LEN] != *check {
            return Err(damaged(at, "checksum mismatch"));
        }
        let mut rest = &body[4..];
        while !rest.is_empty() {
            let (fixed, tail) = rest
                .split_at_checked(41)
                .ok_or_else(|| damaged(at, "row cut short"))?;
            let mut index = [0u8; 8];
            index.copy_from_slice(&fixed[..8]);
            let mut identity = [0u8; 32];
            identity.copy_from_slice(&fixed[8..40]);
            let count = usize::from(fixed[40]);
            if count > MAX_INDEX_KEYS_PER_ENTRY {
                return Err(damaged(at, "too many keys"));
            }
            let (keys, tail) = tail
                .split_at_checked(32 * count)
                .ok_or_else(|| damaged(at, "keys cut short"))?;
            rows.push(JournalRow {
                index: u64::from_be_bytes(index),
                identity,
                keys: keys
                    .chunks_exact(32)
                    .map(|k| {
                        let mut key = [0u8; 32];
                        key.copy_from_slice(k);
                        IndexKey(key)
                    })
                    .collect(),
            });
            rest = tail;
        }
        at = end + CHECK_LEN;
    }
    Ok(rows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rows(first: u64, n: u64) -> Vec<JournalRow> {
        (first..first + n)
            .map(|i| JournalRow {
                index: i,
                identity: [i as u8; 32],
                keys: (0..i % 4).map(|k| IndexKey([k as u8 ^ 0x5a; 32])).collect(),
            })
            .collect()
    }

    fn record(rows: &[JournalRow]) -> Vec<u8> {
        encode(
            rows.iter()
                .map(|r| (r.index, &r.identity, r.keys.as_slice())),
        )
    }

    #[test]
    fn records_round_trip_in_order() {
        let (a, b) = (rows(0, 5), rows(5, 7));
        let mut bytes = record(&a);
        bytes.extend(record(&[]));
        bytes.extend(record(&b));
        let back = decode(&bytes).unwrap();
        assert_eq!(back, [a, b].concat());
        assert!(decode(&[]).unwrap().is_empty());
    }

    #[test]
    fn damage_anywhere_is_refused() {
        let first = record(&rows(0, 3));
        let bytes = [first.clone(), record(&rows(3, 3))].concat();
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            let err = decode(&bad).expect_err("flipped bit");
            assert!(err.to_string().contains("damaged"), "byte {at}: {err}");
        }
        for cut in 1..bytes.len() {
            if cut == first.len() {
                continue; // a record boundary: the first record alone is whole
            }
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
