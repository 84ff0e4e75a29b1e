//! What a CT log signs and stores: the signed entry, the Merkle tree leaf, the tree head
//! signature input, and the `extra_data` chains of `get-entries`.

use sha2::Digest as _;
use sigstack_keys::PublicKey;

use crate::CtError;
use crate::sct::DigitallySigned;
use crate::tls::{Reader, Writer};

/// RFC 6962 `Version v1(0)`.
const V1: u8 = 0;
/// RFC 6962 `SignatureType certificate_timestamp(0)`.
const SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP: u8 = 0;
/// RFC 6962 `SignatureType tree_hash(1)`.
const SIGNATURE_TYPE_TREE_HASH: u8 = 1;
/// RFC 6962 `MerkleLeafType timestamped_entry(0)`.
const LEAF_TYPE_TIMESTAMPED_ENTRY: u8 = 0;
/// RFC 6962 `LogEntryType x509_entry(0)`.
const ENTRY_TYPE_X509: u16 = 0;
/// RFC 6962 `LogEntryType precert_entry(1)`.
const ENTRY_TYPE_PRECERT: u16 = 1;

/// A log entry: the RFC 6962 §3.1 `LogEntryType` tag with its `signed_entry`:
///
/// ```text
/// enum { x509_entry(0), precert_entry(1), (65535) } LogEntryType;
///
/// opaque ASN.1Cert<1..2^24-1>;
///
/// struct {
///   opaque issuer_key_hash[32];
///   TBSCertificate tbs_certificate;     /* DER, as opaque<1..2^24-1> */
/// } PreCert;
///
/// select(entry_type) {
///     case x509_entry: ASN.1Cert;
///     case precert_entry: PreCert;
/// } signed_entry;
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogEntryType {
    /// `x509_entry`: a complete DER certificate.
    X509(Vec<u8>),
    /// `precert_entry`: the issuer key hash and the DER TBSCertificate without the poison.
    Precert {
        /// SHA-256 of the issuing CA's DER SubjectPublicKeyInfo.
        issuer_key_hash: [u8; 32],
        /// DER TBSCertificate (precertificate TBS minus the poison extension).
        tbs_der: Vec<u8>,
    },
}

impl LogEntryType {
    /// The numeric `LogEntryType` (0 x509, 1 precert).
    #[must_use]
    pub fn entry_type(&self) -> u16 {
        match self {
            Self::X509(_) => ENTRY_TYPE_X509,
            Self::Precert { .. } => ENTRY_TYPE_PRECERT,
        }
    }

    /// `entry_type ‖ signed_entry`, TLS-encoded: the part of every SCT and leaf that identifies
    /// the submission independently of its timestamp.
    ///
    /// # Errors
    /// [`CtError::TooLong`] if a certificate exceeds 2^24-1 bytes.
    pub fn to_tls(&self) -> Result<Vec<u8>, CtError> {
        let mut w = Writer::new();
        self.write(&mut w)?;
        Ok(w.into_bytes())
    }

    fn write(&self, w: &mut Writer) -> Result<(), CtError> {
        w.u16(self.entry_type());
        match self {
            Self::X509(cert) => {
                w.vec24("certificate", cert)?;
            }
            Self::Precert {
                issuer_key_hash,
                tbs_der,
            } => {
                w.bytes(issuer_key_hash);
                w.vec24("tbs_certificate", tbs_der)?;
            }
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, CtError> {
        match r.u16("entry_type")? {
            ENTRY_TYPE_X509 => Ok(Self::X509(r.vec24("certificate")?.to_vec())),
            ENTRY_TYPE_PRECERT => Ok(Self::Precert {
                issuer_key_hash: r.array32("issuer_key_hash")?,
                tbs_der: r.vec24("tbs_certificate")?.to_vec(),
            }),
            other => Err(CtError::Unsupported {
                field: "entry_type",
                value: other.into(),
            }),
        }
    }
}

/// The bytes an SCT signature covers (RFC 6962 §3.2, the `digitally-signed struct`):
/// `sct_version ‖ signature_type(0) ‖ timestamp ‖ entry_type ‖ signed_entry ‖ extensions`.
pub(crate) fn sct_signature_input(
    timestamp: u64,
    entry: &LogEntryType,
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    let mut w = Writer::new();
    w.u8(V1)
        .u8(SIGNATURE_TYPE_CERTIFICATE_TIMESTAMP)
        .u64(timestamp);
    entry.write(&mut w)?;
    w.vec16("extensions", extensions)?;
    Ok(w.into_bytes())
}

/// A log's Merkle tree leaf (RFC 6962 §3.4):
///
/// ```text
/// struct {
///     Version version;                       /* v1(0) */
///     MerkleLeafType leaf_type;              /* timestamped_entry(0) */
///     select (leaf_type) {
///         case timestamped_entry: TimestampedEntry;
///     }
/// } MerkleTreeLeaf;
///
/// struct {
///     uint64 timestamp;
///     LogEntryType entry_type;
///     select(entry_type) {
///         case x509_entry: ASN.1Cert;
///         case precert_entry: PreCert;
///     } signed_entry;
///     CtExtensions extensions;
/// } TimestampedEntry;
/// ```
///
/// Its Merkle leaf hash is SHA-256(0x00 ‖ TLS encoding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTreeLeaf {
    /// The SCT timestamp, milliseconds since the epoch.
    pub timestamp: u64,
    /// The entry.
    pub entry: LogEntryType,
    /// The SCT's `CtExtensions` contents.
    pub extensions: Vec<u8>,
}

impl MerkleTreeLeaf {
    /// TLS encoding (the `leaf_input` of `get-entries`).
    ///
    /// # Errors
    /// [`CtError::TooLong`] if a field exceeds its length prefix.
    pub fn to_tls(&self) -> Result<Vec<u8>, CtError> {
        let mut w = Writer::new();
        w.u8(V1).u8(LEAF_TYPE_TIMESTAMPED_ENTRY).u64(self.timestamp);
        self.entry.write(&mut w)?;
        w.vec16("extensions", &self.extensions)?;
        Ok(w.into_bytes())
    }

    /// Parse a complete TLS-encoded v1 timestamped-entry leaf.
    ///
    /// # Errors
    /// [`CtError::Unsupported`] for another version, leaf type or entry type, or a
    /// truncated / trailing-data error.
    pub fn from_tls(unverified: &[u8]) -> Result<Self, CtError> {
        let mut r = Reader::new(unverified);
        let version = r.u8("version")?;
        if version != V1 {
            return Err(CtError::Unsupported {
                field: "version",
                value: version.into(),
            });
        }
        let leaf_type = r.u8("leaf_type")?;
        if leaf_type != LEAF_TYPE_TIMESTAMPED_ENTRY {
            return Err(CtError::Unsupported {
                field: "leaf_type",
                value: leaf_type.into(),
            });
        }
        let leaf = Self {
            timestamp: r.u64("timestamp")?,
            entry: LogEntryType::read(&mut r)?,
            extensions: r.vec16("extensions")?.to_vec(),
        };
        r.finish("MerkleTreeLeaf")?;
        Ok(leaf)
    }

    /// The RFC 6962 §2.1 Merkle leaf hash, SHA-256(0x00 ‖ leaf).
    ///
    /// # Errors
    /// As [`Self::to_tls`].
    pub fn leaf_hash(&self) -> Result<[u8; 32], CtError> {
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(self.to_tls()?);
        Ok(h.finalize().into())
    }
}

/// The TLS-encoded `MerkleTreeLeaf` (RFC 6962 §3.4) of an entry sequenced at `timestamp`.
///
/// # Errors
/// [`CtError::TooLong`] if a certificate or the extensions exceed their length prefix.
pub fn merkle_tree_leaf(
    timestamp: u64,
    entry: &LogEntryType,
    extensions: &[u8],
) -> Result<Vec<u8>, CtError> {
    MerkleTreeLeaf {
        timestamp,
        entry: entry.clone(),
        extensions: extensions.to_vec(),
    }
    .to_tls()
}

/// The bytes a tree head signature covers (RFC 6962 §3.5):
///
/// ```text
/// digitally-signed struct {
///     Version version;                       /* v1(0) */
///     SignatureType signature_type = tree_hash;  /* 1 */
///     uint64 timestamp;
///     uint64 tree_size;
///     opaque sha256_root_hash[32];
/// } TreeHeadSignature;
/// ```
#[must_use]
pub fn tree_head_signature_input(timestamp: u64, tree_size: u64, root: &[u8; 32]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(V1)
        .u8(SIGNATURE_TYPE_TREE_HASH)
        .u64(timestamp)
        .u64(tree_size)
        .bytes(root);
    w.into_bytes()
}

/// Verify a `get-sth` tree head signature.
///
/// # Errors
/// [`CtError::BadSignature`] or an algorithm mismatch.
pub fn verify_tree_head(
    log_key: &PublicKey,
    timestamp: u64,
    tree_size: u64,
    root: &[u8; 32],
    signature: &DigitallySigned,
) -> Result<(), CtError> {
    signature.verify(
        log_key,
        &tree_head_signature_input(timestamp, tree_size, root),
    )
}

/// `extra_data` of an `x509_entry` in `get-entries` (RFC 6962 §4.6): the chain without the leaf,
///
/// ```text
/// ASN.1Cert certificate_chain<0..2^24-1>;
/// ```
///
/// # Errors
/// [`CtError::TooLong`] if a certificate or the chain exceeds 2^24-1 bytes.
pub fn x509_chain_extra_data(chain_without_leaf: &[Vec<u8>]) -> Result<Vec<u8>, CtError> {
    let mut w = Writer::new();
    w.vec24("certificate_chain", &cert_list(chain_without_leaf)?)?;
    Ok(w.into_bytes())
}

/// `extra_data` of a `precert_entry` in `get-entries` (RFC 6962 §4.6):
///
/// ```text
/// struct {
///   ASN.1Cert pre_certificate;
///   ASN.1Cert precertificate_chain<0..2^24-1>;
/// } PrecertChainEntry;
/// ```
///
/// # Errors
/// [`CtError::TooLong`] if a certificate or the chain exceeds 2^24-1 bytes.
pub fn precert_chain_extra_data(
    precertificate: &[u8],
    chain_without_leaf: &[Vec<u8>],
) -> Result<Vec<u8>, CtError> {
    let mut w = Writer::new();
    w.vec24("pre_certificate", precertificate)?;
    w.vec24("precertificate_chain", &cert_list(chain_without_leaf)?)?;
    Ok(w.into_bytes())
}

fn cert_list(certs: &[Vec<u8>]) -> Result<Vec<u8>, CtError> {
    let mut w = Writer::new();
    for cert in certs {
        w.vec24("certificate", cert)?;
    }
    Ok(w.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn precert() -> LogEntryType {
        LogEntryType::Precert {
            issuer_key_hash: [7u8; 32],
            tbs_der: vec![0x30, 0x00],
        }
    }

    #[test]
    fn signature_input_layout_matches_rfc6962() {
        let input = sct_signature_input(0x0102_0304_0506_0708, &precert(), &[]).expect("encode");
        let mut want = vec![0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1];
        want.extend_from_slice(&[7u8; 32]);
        want.extend_from_slice(&[0, 0, 2, 0x30, 0x00, 0, 0]);
        assert_eq!(input, want);
        let x509 = sct_signature_input(1, &LogEntryType::X509(vec![0xAA]), &[0xEE]).expect("x509");
        assert_eq!(
            x509,
            [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0xAA, 0, 1, 0xEE
            ]
        );
    }

    #[test]
    fn leaf_round_trips_and_differs_from_signature_input_only_in_header() {
        let leaf = MerkleTreeLeaf {
            timestamp: 99,
            entry: precert(),
            extensions: vec![],
        };
        let bytes = leaf.to_tls().expect("encode");
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(MerkleTreeLeaf::from_tls(&bytes).expect("parse"), leaf);
        assert_eq!(bytes, merkle_tree_leaf(99, &precert(), &[]).expect("fn"));
        let sig_input = sct_signature_input(99, &precert(), &[]).expect("sig input");
        assert_eq!(bytes[2..], sig_input[2..]);
        let mut hashed = vec![0u8];
        hashed.extend_from_slice(&bytes);
        assert_eq!(
            leaf.leaf_hash().expect("hash"),
            sigstack_keys::sha256(&hashed)
        );
    }

    #[test]
    fn leaf_parser_rejects_garbage() {
        let good = merkle_tree_leaf(5, &LogEntryType::X509(vec![1, 2, 3]), &[]).expect("encode");
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(matches!(
            MerkleTreeLeaf::from_tls(&trailing),
            Err(CtError::TrailingData(_))
        ));
        assert!(matches!(
            MerkleTreeLeaf::from_tls(&good[..good.len() - 1]),
            Err(CtError::Truncated(_))
        ));
        let mut bad_type = good.clone();
        bad_type[11] = 9;
        assert!(matches!(
            MerkleTreeLeaf::from_tls(&bad_type),
            Err(CtError::Unsupported {
                field: "entry_type",
                value: 9
            })
        ));
        let mut bad_version = good;
        bad_version[0] = 1;
        assert!(MerkleTreeLeaf::from_tls(&bad_version).is_err());
    }

    #[test]
    fn tree_head_input_layout() {
        let input = tree_head_signature_input(2, 3, &[9u8; 32]);
        assert_eq!(
            &input[..18],
            &[0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3]
        );
        assert_eq!(&input[18..], &[9u8; 32]);
    }

    #[test]
    fn extra_data_nests_u24_lists() {
        let chain = vec![vec![0xA1], vec![0xB1, 0xB2]];
        assert_eq!(
            x509_chain_extra_data(&chain).expect("x509"),
            [0, 0, 9, 0, 0, 1, 0xA1, 0, 0, 2, 0xB1, 0xB2]
        );
        assert_eq!(
            precert_chain_extra_data(&[0xCC], &chain[..1]).expect("precert"),
            [0, 0, 1, 0xCC, 0, 0, 4, 0, 0, 1, 0xA1]
        );
    }
}
