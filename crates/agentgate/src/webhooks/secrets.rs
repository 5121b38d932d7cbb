//! Webhook secrets at rest. With `WEBHOOK_ENCRYPTION_KEY` set, secrets are stored AES-256-GCM encrypted in the
//! older implementation's format, `enc:<iv hex>.<tag hex>.<ciphertext hex>` with the key = SHA-256 of the
//! variable, so a database written by either implementation reads in the other. Values without `enc:` are
//! plaintext (written before a key was set; they are encrypted in place at start-up).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};

const PREFIX: &str = "enc:";
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the webhook secret is encrypted and WEBHOOK_ENCRYPTION_KEY is not set")]
    NoKey,
    #[error("the webhook secret cannot be decrypted (wrong WEBHOOK_ENCRYPTION_KEY, or a damaged value)")]
    Undecryptable,
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: Option<Aes256Gcm>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox").field("encrypting", &self.cipher.is_some()).finish()
    }
}

impl SecretBox {
    pub fn new(encryption_key: Option<&str>) -> Self {
        let cipher = encryption_key.map(|key| {
            let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            Aes256Gcm::new(&digest.into())
        });
        Self { cipher }
    }

    pub fn encrypts(&self) -> bool {
        self.cipher.is_some()
    }

    /// The stored form of a secret: encrypted when a key is configured.
    pub fn seal(&self, secret: &str) -> String {
        let Some(cipher) = &self.cipher else { return secret.to_owned() };
        let mut iv = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut iv);
        // Encryption with a valid key and nonce only fails for inputs beyond 64 GiB.
        let sealed = cipher.encrypt(&Nonce::from(iv), secret.as_bytes()).unwrap_or_default();
        let (ciphertext, tag) = sealed.split_at(sealed.len().saturating_sub(TAG_LEN));
        format!("{PREFIX}{}.{}.{}", hex::encode(iv), hex::encode(tag), hex::encode(ciphertext))
    }

    /// The secret from its stored form.
    pub fn open(&self, stored: &str) -> Result<String, SecretError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_owned()) };
        let cipher = self.cipher.as_ref().ok_or(SecretError::NoKey)?;
        let mut parts = rest.split('.').map(hex::decode);
        let (Some(Ok(iv)), Some(Ok(tag)), Some(Ok(mut ciphertext)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretError::Undecryptable);
        };
        let Ok(iv) = <[u8; 12]>::try_from(iv.as_slice()) else { return Err(SecretError::Undecryptable) };
        if tag.len() != TAG_LEN {
            return Err(SecretError::Undecryptable);
        }
        ciphertext.extend_from_slice(&tag);
        let plain = cipher.decrypt(&Nonce::from(iv), ciphertext.as_slice()).map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }

    /// Whether a stored value still needs encrypting.
    pub fn is_plaintext(stored: &str) -> bool {
        !stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_the_same_key() {
        let sealed_box = SecretBox::new(Some("a key of any length"));
        let stored = sealed_box.seal("whsec_abc");
        assert!(stored.starts_with("enc:") && !stored.contains("whsec_abc"));
        assert_ne!(stored, sealed_box.seal("whsec_abc"), "a fresh IV every time");
        assert_eq!(sealed_box.open(&stored).expect("opens"), "whsec_abc");
        assert!(matches!(SecretBox::new(Some("another key")).open(&stored), Err(SecretError::Undecryptable)));
        assert!(matches!(SecretBox::new(None).open(&stored), Err(SecretError::NoKey)));
        assert!(matches!(sealed_box.open("enc:00.11"), Err(SecretError::Undecryptable)));
    }

    #[test]
    fn plaintext_passes_through() {
        assert_eq!(SecretBox::new(None).seal("s"), "s");
        assert_eq!(SecretBox::new(Some("k")).open("plain").expect("plaintext"), "plain");
    }
}
