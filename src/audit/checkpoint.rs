//! Signed checkpoints of the chain head, so truncation of the newest records is detectable: the
//! hash chain alone cannot show that its last records were removed. `periop audit checkpoint`
//! signs the head (seq and hash) with an Ed25519 key and writes a small JSON file to keep outside
//! the database; `periop audit verify --checkpoint FILE --verifying-key KEY` then checks that the
//! store still holds that record with that hash, besides recomputing the chain.
//!
//! Signed message (version 1): the 27 bytes `b"periop-audit-checkpoint-v1\0"`, `seq` as 8 bytes
//! big-endian, then `hash` and `created_at` each as an 8-byte big-endian length and its UTF-8.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{AuditError, AuditStore, ChainHead, ListQuery};

/// `format` of a version-1 checkpoint file.
pub const FORMAT_V1: &str = "periop-audit-checkpoint-v1";

const DOMAIN_V1: &[u8; 27] = b"periop-audit-checkpoint-v1\0";

/// A signed chain head, as written to a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// [`FORMAT_V1`].
    pub format: String,
    /// The store it was taken of (`describe`d: no password). Informative, not signed.
    pub store: String,
    /// Sequence number of the newest record at the time.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// RFC 3339 time the checkpoint was taken.
    pub created_at: String,
    /// Hex Ed25519 public key of the signer (informative: verification uses the key given).
    pub public_key: String,
    /// Hex Ed25519 signature of the signed message (module docs).
    pub signature: String,
}

/// Why a checkpoint does not hold.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file is not a checkpoint of a known format, or a key is malformed.
    #[error("{0}")]
    Malformed(String),
    /// The signature does not verify with the given key (the file was altered or signed by
    /// another key).
    #[error("checkpoint signature does not verify with the given key")]
    BadSignature,
    /// The store ends before the checkpointed record: its newest records were removed.
    #[error("the store ends at seq {head_seq}, before the checkpointed seq {seq}: records after seq {head_seq} were removed (truncation)")]
    Truncated {
        /// Checkpointed seq.
        seq: i64,
        /// The store's newest seq now (0 when empty).
        head_seq: i64,
    },
    /// The record at the checkpointed seq has another hash: the chain was rewritten.
    #[error("the record at seq {seq} has hash {found}, the checkpoint says {expected}: the chain was rewritten")]
    Rewritten {
        /// Checkpointed seq.
        seq: i64,
        /// Hash in the checkpoint.
        expected: String,
        /// Hash stored now.
        found: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] AuditError),
}

fn message(seq: i64, hash: &str, created_at: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN_V1.len() + 8 + 16 + hash.len() + created_at.len());
    m.extend_from_slice(DOMAIN_V1);
    m.extend_from_slice(&seq.to_be_bytes());
    for field in [hash, created_at] {
        m.extend_from_slice(&(field.len() as u64).to_be_bytes());
        m.extend_from_slice(field.as_bytes());
    }
    m
}

/// Reads a hex key of 32 bytes (the file may end with a newline).
///
/// # Errors
/// Not 64 hex digits.
pub fn key_bytes(text: &str, what: &str) -> Result<[u8; 32], CheckpointError> {
    let bytes = hex::decode(text.trim())
        .map_err(|e| CheckpointError::Malformed(format!("{what}: not hex: {e}")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        CheckpointError::Malformed(format!("{what}: {} bytes, expected 32", b.len()))
    })
}

/// A new signing key from the operating system's random source.
pub fn generate_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    SigningKey::from_bytes(&seed)
}

impl Checkpoint {
    /// Signs `head` of the store described as `store`, at `created_at`.
    pub fn sign(head: &ChainHead, store: &str, created_at: &str, key: &SigningKey) -> Self {
        let signature = key.sign(&message(head.seq, &head.hash, created_at));
        Self {
            format: FORMAT_V1.to_owned(),
            store: store.to_owned(),
            seq: head.seq,
            hash: head.hash.clone(),
            created_at: created_at.to_owned(),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// Checks the format and the signature with `key`.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] or [`CheckpointError::BadSignature`].
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), CheckpointError> {
        if self.format != FORMAT_V1 {
            return Err(CheckpointError::Malformed(format!(
                "format {:?} is not {FORMAT_V1}",
                self.format
            )));
        }
        let bytes = hex::decode(&self.signature)
            .map_err(|e| CheckpointError::Malformed(format!("signature: not hex: {e}")))?;
        let signature = Signature::from_slice(&bytes)
            .map_err(|e| CheckpointError::Malformed(format!("signature: {e}")))?;
        key.verify_strict(&message(self.seq, &self.hash, &self.created_at), &signature)
            .map_err(|_| CheckpointError::BadSignature)
    }

    /// Checks that `store` still holds the checkpointed record with the checkpointed hash.
    ///
    /// # Errors
    /// [`CheckpointError::Truncated`], [`CheckpointError::Rewritten`], or a store failure.
    pub fn check_store(&self, store: &dyn AuditStore) -> Result<(), CheckpointError> {
        if self.seq < 1 {
            return Err(CheckpointError::Malformed(format!(
                "seq {} is not a chain position (they start at 1)",
                self.seq
            )));
        }
        let at = store.list(&ListQuery {
            after_seq: self.seq - 1,
            limit: 1,
            ..ListQuery::default()
        })?;
        match at.first() {
            Some(r) if r.seq == self.seq && r.hash == self.hash => Ok(()),
            Some(r) if r.seq == self.seq => Err(CheckpointError::Rewritten {
                seq: self.seq,
                expected: self.hash.clone(),
                found: r.hash.clone(),
            }),
            _ => Err(CheckpointError::Truncated {
                seq: self.seq,
                head_seq: store.head()?.map_or(0, |h| h.seq),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_seq_hash_and_time() {
        let key = generate_key();
        let head = ChainHead {
            seq: 42,
            hash: "ab".repeat(32),
        };
        let cp = Checkpoint::sign(&head, "sqlite:a.db", "2026-12-01T12:00:00Z", &key);
        cp.verify_signature(&key.verifying_key()).unwrap();
        for altered in [
            Checkpoint {
                seq: 41,
                ..cp.clone()
            },
            Checkpoint {
                hash: "cd".repeat(32),
                ..cp.clone()
            },
            Checkpoint {
                created_at: "2026-12-02T12:00:00Z".into(),
                ..cp.clone()
            },
        ] {
            assert!(matches!(
                altered.verify_signature(&key.verifying_key()),
                Err(CheckpointError::BadSignature)
            ));
        }
        let other = generate_key();
        assert!(matches!(
            cp.verify_signature(&other.verifying_key()),
            Err(CheckpointError::BadSignature)
        ));
        assert!(key_bytes("00", "key").is_err());
        assert_eq!(
            key_bytes(&format!("{}\n", "01".repeat(32)), "key").unwrap(),
            [1u8; 32]
        );
    }
}
