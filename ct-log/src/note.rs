//! C2SP signed notes and checkpoints (`signed-note.md`, `tlog-checkpoint.md`). No HTTP, no
//! database.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::rfc6962::{Hash, sha256};

/// Signature type byte of an RFC 6962 `TreeHeadSignature` note signature (static-ct-api).
pub const TYPE_RFC6962_STH: u8 = 0x05;

/// Why a note or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The text is not a signed note.
    #[error("malformed signed note: {0}")]
    Malformed(&'static str),
    /// The body is not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
}

/// A tree head as a checkpoint body states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line, e.g. `sigil.example.com/ct`.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Merkle tree hash.
    pub root: Hash,
}

impl Checkpoint {
    /// The note body: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a checkpoint body (extension lines after the third are allowed and ignored).
    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::Checkpoint("no origin"))?;
        let size = lines
            .next()
            .filter(|s| *s == "0" || (!s.starts_with('0') && !s.is_empty()))
            .and_then(|s| s.parse().ok())
            .ok_or(NoteError::Checkpoint("bad size"))?;
        let root = lines
            .next()
            .and_then(|r| STANDARD.decode(r).ok())
            .and_then(|r| Hash::try_from(r).ok())
            .ok_or(NoteError::Checkpoint("bad root hash"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name (for a log, its origin).
    pub name: String,
    /// The 4-byte key ID (or key hint).
    pub key_id: [u8; 4],
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

/// `SHA-256(name || "\n" || type || key material)[:4]`, the signed-note key ID.
pub fn key_id(name: &str, key_type: u8, key_material: &[u8]) -> [u8; 4] {
    let mut data = Vec::with_capacity(name.len() + 2 + key_material.len());
    data.extend_from_slice(name.as_bytes());
    data.push(b'\n');
    data.push(key_type);
    data.extend_from_slice(key_material);
    let h = sha256(&data);
    [h[0], h[1], h[2], h[3]]
}

/// A signed note: the body, a blank line, then one `— name base64(id||sig)` line each.
pub fn format(body: &str, signatures: &[NoteSignature]) -> String {
    let mut out = String::with_capacity(body.len() + 120 * signatures.len());
    out.push_str(body);
    out.push('\n');
    for s in signatures {
        let mut blob = s.key_id.to_vec();
        blob.extend_from_slice(&s.signature);
        out.push_str(&format!("\u{2014} {} {}\n", s.name, STANDARD.encode(blob)));
    }
    out
}

/// Splits a signed note into its body and signature lines.
pub fn parse(note: &str) -> Result<(String, Vec<NoteSignature>), NoteError> {
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("control characters"));
    }
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before signatures"))?;
    let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
    if !sigs.ends_with('\n') {
        return Err(NoteError::Malformed("the note must end with a newline"));
    }
    let mut signatures = Vec::new();
    for line in sigs.trim_end_matches('\n').split('\n') {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or(NoteError::Malformed("signature line"))?;
        let (name, blob) = rest
            .split_once(' ')
            .ok_or(NoteError::Malformed("signature line"))?;
        let blob = STANDARD
            .decode(blob)
            .map_err(|_| NoteError::Malformed("signature base64"))?;
        if blob.len() < 5 || name.is_empty() || name.contains('+') {
            return Err(NoteError::Malformed("signature line"));
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: [blob[0], blob[1], blob[2], blob[3]],
            signature: blob[4..].to_vec(),
        });
    }
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signatures"));
    }
    Ok((body.to_owned(), signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trip_and_format() {
        let cp = Checkpoint {
            origin: "example.com/ct".into(),
            size: 20852163,
            root: [7; 32],
        };
        let sig = NoteSignature {
            name: cp.origin.clone(),
            key_id: [1, 2, 3, 4],
            signature: vec![9; 10],
        };
        let note = format(&cp.body(), std::slice::from_ref(&sig));
        assert!(note.starts_with("example.com/ct\n20852163\nBwcH"));
        assert!(note.contains("\n\n\u{2014} example.com/ct AQIDBAkJ"));
        let (body, sigs) = parse(&note).unwrap();
        assert_eq!(Checkpoint::parse(&body).unwrap(), cp);
        assert_eq!(sigs, vec![sig]);
        for bad in [
            "x\n1\nAA==\n",
            "x\n1\n\n\u{2014} x AAAA\n",
            "a\n\n\u{2014} n AQIDBAU=",
            "a\x01\n\n\u{2014} n AQIDBAU=\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Checkpoint::parse("o\n01\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").is_err()
        );
    }
}
