//! Tenant secrets at rest: AES-256-GCM under `SECRET_KEY`.
//!
//! Stored format: `version (1 byte) ‖ key id (4 bytes) ‖ nonce (12 bytes) ‖ ciphertext+tag`.
//! The associated data binds a ciphertext to its tenant, its field and its key id, so a value
//! copied into another tenant's row (or another column) fails to decrypt instead of leaking.
//! Nonces are random: the key encrypts few values, far below the 2^32 messages at which random
//! 96-bit nonces start to risk a collision, and random nonces need no counter shared by replicas.
//!
//! Keys and plaintexts live in `secrecy`/`zeroize` wrappers: no `Debug`, no `Serialize`, zeroed
//! on drop.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

const FORMAT_V1: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// A 32-byte key given as 64 hex characters. Built only through [`SecretKey::from_hex`].
#[derive(Clone)]
pub struct SecretKey {
    bytes: Zeroizing<[u8; 32]>,
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
}

impl SecretKey {
    pub fn from_hex(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() != 64 {
            return Err(format!(
                "must be 64 hex characters (32 bytes); got {}",
                raw.len()
            ));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(raw, bytes.as_mut_slice()).map_err(|_| {
            "must be 64 hex characters (32 bytes); it contains a non-hex character".to_owned()
        })?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        let digest = derive(bytes.as_slice(), b"tenantgate key id");
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let cipher = Aes256Gcm::new(bytes.as_slice().into());
        Self { bytes, id, cipher }
    }

    /// A new random key, for `tenantgate gen-secret` and the demo.
    pub fn generate_hex() -> String {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        hex::encode(key)
    }

    /// A subkey for another purpose (e.g. hashing API keys), so one secret serves both
    /// without the two uses ever sharing key material.
    pub fn derive(&self, purpose: &[u8]) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(derive(self.bytes.as_slice(), purpose))
    }

    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }
}

fn derive(key: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("stored secret is malformed")]
    Malformed,
    #[error("stored secret was encrypted with an unknown key (is SECRET_KEY_PREVIOUS missing?)")]
    UnknownKey,
    #[error("stored secret does not decrypt for this tenant and field")]
    Tampered,
}

/// The current key and the previous ones that still decrypt during a rotation.
#[derive(Clone)]
pub struct KeyRing {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

/// Which secret a ciphertext belongs to: part of the associated data.
#[derive(Clone, Copy)]
pub struct SecretSlot<'a> {
    pub tenant_id: &'a str,
    pub field: &'a str,
}

impl KeyRing {
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Self {
        Self { current, previous }
    }

    pub fn current(&self) -> &SecretKey {
        &self.current
    }

    /// Every key, current first: for checks that must accept values made under older keys.
    pub fn all(&self) -> impl Iterator<Item = &SecretKey> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    pub fn encrypt(&self, slot: SecretSlot<'_>, plaintext: &SecretString) -> Vec<u8> {
        let key = &self.current;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(slot, &key.id);
        let ciphertext = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn decrypt(
        &self,
        slot: SecretSlot<'_>,
        stored: &[u8],
    ) -> Result<SecretString, SecretError> {
        if stored.len() < HEADER_LEN + 16 || stored[0] != FORMAT_V1 {
            return Err(SecretError::Malformed);
        }
        let key_id = &stored[1..1 + KEY_ID_LEN];
        let key = self
            .all()
            .find(|k| k.id == key_id)
            .ok_or(SecretError::UnknownKey)?;
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(&stored[1 + KEY_ID_LEN..HEADER_LEN]);
        let nonce = Nonce::from(nonce_bytes);
        let aad = associated_data(slot, &key.id);
        let plaintext = Zeroizing::new(
            key.cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: &stored[HEADER_LEN..],
                        aad: &aad,
                    },
                )
                .map_err(|_| SecretError::Tampered)?,
        );
        let text = std::str::from_utf8(&plaintext).map_err(|_| SecretError::Malformed)?;
        Ok(SecretString::from(text.to_owned()))
    }

    /// Whether a stored value was made under the current key (rotation skips those).
    pub fn is_current(&self, stored: &[u8]) -> bool {
        stored.len() > HEADER_LEN
            && stored[0] == FORMAT_V1
            && stored[1..1 + KEY_ID_LEN] == self.current.id
    }
}

fn associated_data(slot: SecretSlot<'_>, key_id: &[u8; KEY_ID_LEN]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + slot.tenant_id.len() + slot.field.len());
    aad.extend_from_slice(b"tenantgate/v1\0");
    aad.extend_from_slice(slot.tenant_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(slot.field.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_id);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str, previous: &[&str]) -> KeyRing {
        KeyRing::new(
            SecretKey::from_hex(current).expect("key"),
            previous
                .iter()
                .map(|p| SecretKey::from_hex(p).expect("key"))
                .collect(),
        )
    }

    const A: &str = "0000000000000000000000000000000000000000000000000000000000000001";
    const B: &str = "0000000000000000000000000000000000000000000000000000000000000002";

    fn slot<'a>(tenant_id: &'a str) -> SecretSlot<'a> {
        SecretSlot {
            tenant_id,
            field: "pinecone_api_key",
        }
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let keys = ring(A, &[]);
        let secret = SecretString::from("pc-secret-123");
        let one = keys.encrypt(slot("acme"), &secret);
        let two = keys.encrypt(slot("acme"), &secret);
        assert_ne!(one, two, "nonces must differ");
        assert_eq!(
            keys.decrypt(slot("acme"), &one)
                .expect("decrypts")
                .expose_secret(),
            "pc-secret-123"
        );
    }

    #[test]
    fn ciphertext_is_bound_to_tenant_and_field() {
        let keys = ring(A, &[]);
        let stored = keys.encrypt(slot("acme"), &SecretString::from("k"));
        assert_eq!(
            keys.decrypt(slot("globex"), &stored).err(),
            Some(SecretError::Tampered)
        );
        let other_field = SecretSlot {
            tenant_id: "acme",
            field: "other",
        };
        assert_eq!(
            keys.decrypt(other_field, &stored).err(),
            Some(SecretError::Tampered)
        );
        let mut flipped = stored.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            keys.decrypt(slot("acme"), &flipped).err(),
            Some(SecretError::Tampered)
        );
        assert_eq!(
            keys.decrypt(slot("acme"), &stored[..10]).err(),
            Some(SecretError::Malformed)
        );
    }

    #[test]
    fn previous_keys_still_decrypt() {
        let old = ring(A, &[]);
        let stored = old.encrypt(slot("acme"), &SecretString::from("k"));
        let rotated = ring(B, &[A]);
        assert!(!rotated.is_current(&stored));
        assert_eq!(
            rotated
                .decrypt(slot("acme"), &stored)
                .expect("old key")
                .expose_secret(),
            "k"
        );
        assert_eq!(
            ring(B, &[]).decrypt(slot("acme"), &stored).err(),
            Some(SecretError::UnknownKey)
        );
    }

    #[test]
    fn key_must_be_64_hex() {
        assert_eq!(
            SecretKey::from_hex("abc").err().as_deref(),
            Some("must be 64 hex characters (32 bytes); got 3")
        );
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        assert_eq!(SecretKey::generate_hex().len(), 64);
    }
}
