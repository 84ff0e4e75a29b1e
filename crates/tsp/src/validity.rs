//! Start-up checks of a TSA's certificate chain against time: the chain must be valid now, each
//! certificate inside its issuer's validity, and the whole operating window the operator
//! configured (the `validFor` published in the trusted root) covered by the leaf from now on.

use std::time::SystemTime;

use x509_cert::Certificate;

use crate::{Accuracy, TimestampAuthority, TspError};

/// The period in which the TSA is meant to issue tokens (what clients see as its `validFor`).
/// An absent bound is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ValidityWindow {
    /// First instant tokens may carry.
    pub not_before: Option<SystemTime>,
    /// Last instant tokens may carry.
    pub not_after: Option<SystemTime>,
}

fn bounds(cert: &Certificate) -> (SystemTime, SystemTime) {
    let v = cert.tbs_certificate().validity();
    (v.not_before.to_system_time(), v.not_after.to_system_time())
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn name(cert: &Certificate, index: usize) -> String {
    format!("certificate {index} ({})", cert.tbs_certificate().subject())
}

impl TimestampAuthority {
    /// Check the chain at start-up, at `now`, against the configured `window`:
    /// - every certificate is valid at `now`;
    /// - each certificate's validity lies inside its issuer's (the next one in the chain);
    /// - `now` lies inside `window`, and the leaf stays valid until the window ends (an open end
    ///   is not checked against the leaf, whose expiry then ends issuance). The part of the
    ///   window already past is not checked: no token will carry those times.
    ///
    /// # Errors
    /// [`TspError::Certificate`] naming the certificate and the window it violates.
    pub fn check_validity(&self, now: SystemTime, window: &ValidityWindow) -> Result<(), TspError> {
        let bad = |m: String| Err(TspError::Certificate(m));
        let chain = self.chain();
        for (i, cert) in chain.iter().enumerate() {
            let (not_before, not_after) = bounds(cert);
            if now < not_before {
                return bad(format!(
                    "{} is not valid before {} (now {})",
                    name(cert, i),
                    unix(not_before),
                    unix(now)
                ));
            }
            if now > not_after {
                return bad(format!(
                    "{} expired at {} (now {})",
                    name(cert, i),
                    unix(not_after),
                    unix(now)
                ));
            }
        }
        for (i, pair) in chain.windows(2).enumerate() {
            let (nb, na) = bounds(&pair[0]);
            let (issuer_nb, issuer_na) = bounds(&pair[1]);
            if nb < issuer_nb || na > issuer_na {
                return bad(format!(
                    "{} is valid {}..{}, outside its issuer's {}..{}",
                    name(&pair[0], i),
                    unix(nb),
                    unix(na),
                    unix(issuer_nb),
                    unix(issuer_na)
                ));
            }
        }
        if let Some(start) = window.not_before.filter(|start| now < *start) {
            return bad(format!(
                "the configured window starts at {} (now {})",
                unix(start),
                unix(now)
            ));
        }
        if let Some(end) = window.not_after.filter(|end| now > *end) {
            return bad(format!(
                "the configured window ended at {} (now {})",
                unix(end),
                unix(now)
            ));
        }
        if let Some(leaf) = chain.first() {
            // Tokens are issued from now on, and the leaf is valid now: it must last to the end.
            let (_, na) = bounds(leaf);
            if window.not_after.is_some_and(|end| end > na) {
                return bad(format!(
                    "the leaf expires at {}, before the configured window ends",
                    unix(na)
                ));
            }
        }
        Ok(())
    }
}

/// Check an accuracy against RFC 3161 §2.4.2: `millis` and `micros` in 1..=999, and not all
/// fields absent (omit the accuracy instead).
///
/// # Errors
/// [`TspError::InvalidAccuracy`].
pub fn check_accuracy(accuracy: &Accuracy) -> Result<(), TspError> {
    let in_range = |v: Option<u16>| v.is_none_or(|v| (1..=999).contains(&v));
    if !in_range(accuracy.millis) || !in_range(accuracy.micros) {
        return Err(TspError::InvalidAccuracy(
            "millis and micros must be between 1 and 999".into(),
        ));
    }
    if accuracy.seconds.is_none() && accuracy.millis.is_none() && accuracy.micros.is_none() {
        return Err(TspError::InvalidAccuracy(
            "an accuracy needs seconds, millis or micros".into(),
        ));
    }
    Ok(())
}
