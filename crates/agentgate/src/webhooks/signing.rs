//! Webhook signatures, two ways over the same bytes:
//!
//! - `X-AgentGate-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, keyed with the secret's UTF-8 bytes (the
//!   product brief's scheme; the older implementation sent the bare hex).
//! - Standard Webhooks (<https://www.standardwebhooks.com>): `webhook-id`, `webhook-timestamp` (Unix seconds) and
//!   `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, so receivers can verify with
//!   the off-the-shelf libraries. The key is what those libraries derive from the secret string: the base64
//!   after an optional `whsec_` prefix, or (for a secret that is not base64) its UTF-8 bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The `X-AgentGate-Signature` value.
pub fn agentgate_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[body])))
}

/// The HMAC key Standard Webhooks libraries use for `secret`.
fn standard_key(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    STANDARD.decode(encoded).unwrap_or_else(|_| secret.as_bytes().to_vec())
}

/// The `webhook-signature` value for a message id, a timestamp (Unix seconds) and the body.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac(&standard_key(secret), &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(mac))
}

/// A new secret in the Standard Webhooks form: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brief_scheme_is_hex_hmac_of_the_body_with_a_prefix() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            agentgate_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn generated_secrets_decode_to_32_bytes() {
        let secret = generate_secret();
        assert_eq!(standard_key(&secret).len(), 32);
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn secrets_that_are_not_base64_are_used_as_text() {
        assert_eq!(standard_key("not base64!"), b"not base64!");
    }
}
