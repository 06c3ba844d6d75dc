use sha2::{Digest, Sha256};

use crate::OciError;

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Checks that `bytes` have `digest`; only sha256 digests are accepted.
pub fn verify_digest(what: &str, digest: &str, bytes: &[u8]) -> Result<(), OciError> {
    let Some(expected) = digest.strip_prefix("sha256:") else {
        return Err(OciError::Digest(format!(
            "{what}: unsupported digest algorithm in '{digest}'"
        )));
    };
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != expected {
        return Err(OciError::Digest(format!(
            "{what}: content has digest sha256:{actual}, not {digest}"
        )));
    }
    Ok(())
}
