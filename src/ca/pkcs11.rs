//! The CA key inside a PKCS#11 token: a hardware security module, a cloud HSM's PKCS#11
//! library, or SoftHSM2 in tests. The private key never enters this process; sigil hashes the
//! certificate and the token signs the digest.
//!
//! PKCS#11 sessions are not safe to share between threads, and signing happens on the
//! blocking pool, so the key holds one logged-in session per core and hands them out round
//! robin; a session is busy for one signature at a time.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;

use super::Error;

/// Where the key is: the module, the token, the key, and the user PIN.
pub struct Pkcs11Settings {
    /// Path of the PKCS#11 library (`.so`).
    pub module: PathBuf,
    /// Label of the token that holds the key.
    pub token_label: String,
    /// Label (`CKA_LABEL`) of the private key.
    pub key_label: String,
    /// The user PIN.
    pub pin: String,
}

/// How the token's key signs.
#[derive(Clone, Copy)]
enum Scheme {
    /// Raw ECDSA over a digest made here; the token returns r‖s.
    Ecdsa,
    /// RSA PKCS#1 v1.5 with SHA-256, hashed by the token.
    RsaSha256,
}

/// A private key in a PKCS#11 token, with a pool of logged-in sessions.
pub struct Pkcs11Key {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    key: ObjectHandle,
    scheme: Scheme,
}

fn pkcs11_error(what: &str) -> impl Fn(cryptoki::error::Error) -> Error + '_ {
    move |e| Error::Key(format!("PKCS#11: {what}: {e}"))
}

impl Pkcs11Key {
    /// Loads the module, finds the token by label, logs in, and finds the key by label.
    pub fn open(settings: &Pkcs11Settings) -> Result<Pkcs11Key, Error> {
        let context = Pkcs11::new(&settings.module).map_err(|e| {
            Error::Key(format!(
                "PKCS#11: cannot load the module {}: {e}",
                settings.module.display()
            ))
        })?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(pkcs11_error("initializing the module"))?;
        let slot = context
            .get_slots_with_token()
            .map_err(pkcs11_error("listing slots"))?
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label() == settings.token_label)
            })
            .ok_or_else(|| {
                Error::Key(format!(
                    "PKCS#11: no token labelled `{}` in {}",
                    settings.token_label,
                    settings.module.display()
                ))
            })?;

        let pin = AuthPin::from(settings.pin.clone());
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut sessions = Vec::with_capacity(workers);
        for _ in 0..workers {
            let session = context
                .open_ro_session(slot)
                .map_err(pkcs11_error("opening a session"))?;
            // A login holds for every session of this application on the token.
            if sessions.is_empty() {
                session
                    .login(UserType::User, Some(&pin))
                    .map_err(pkcs11_error("logging in (is the PIN right?)"))?;
            }
            sessions.push(session);
        }

        let template = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(settings.key_label.as_bytes().to_vec()),
        ];
        let found = sessions[0]
            .find_objects(&template)
            .map_err(pkcs11_error("searching for the key"))?;
        let key = match found.as_slice() {
            [key] => *key,
            [] => {
                return Err(Error::Key(format!(
                    "PKCS#11: token `{}` holds no private key labelled `{}`",
                    settings.token_label, settings.key_label
                )));
            }
            _ => {
                return Err(Error::Key(format!(
                    "PKCS#11: token `{}` holds {} private keys labelled `{}`; labels must be \
                     unique",
                    settings.token_label,
                    found.len(),
                    settings.key_label
                )));
            }
        };
        let key_type = sessions[0]
            .get_attributes(key, &[AttributeType::KeyType])
            .map_err(pkcs11_error("reading the key type"))?;
        let scheme = match key_type.first() {
            Some(Attribute::KeyType(kind)) if *kind == KeyType::EC => Scheme::Ecdsa,
            Some(Attribute::KeyType(kind)) if *kind == KeyType::RSA => Scheme::RsaSha256,
            _ => {
                return Err(Error::Key(
                    "PKCS#11: the CA key must be ECDSA or RSA".into(),
                ));
            }
        };
        Ok(Pkcs11Key {
            sessions: sessions.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
            key,
            scheme,
        })
    }

    /// Signs `message` the way an X.509 signature with `digest` needs: ECDSA signatures come
    /// back DER-encoded, as certificates carry them.
    pub fn sign(&self, digest: MessageDigest, message: &[u8]) -> Result<Vec<u8>, Error> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        let session = self.sessions[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.scheme {
            Scheme::Ecdsa => {
                let hash = openssl::hash::hash(digest, message)?;
                let raw = session
                    .sign(&Mechanism::Ecdsa, self.key, &hash)
                    .map_err(pkcs11_error("signing"))?;
                // PKCS#11 returns r and s as two equal-length big-endian integers.
                let (r, s) = raw.split_at(raw.len() / 2);
                let signature = EcdsaSig::from_private_components(
                    BigNum::from_slice(r)?,
                    BigNum::from_slice(s)?,
                )?;
                Ok(signature.to_der()?)
            }
            Scheme::RsaSha256 => session
                .sign(&Mechanism::Sha256RsaPkcs, self.key, message)
                .map_err(pkcs11_error("signing")),
        }
    }
}
