//! Signatures on what roles tell each other over the broker: the dispatcher signs every
//! device task, a worker signs every batch of results, and the reader checks the signature
//! over the exact bytes it received before it believes any of them.
//!
//! Why signatures (and not a re-read of Postgres): a task must be believed before a worker
//! unseals a secret for it, and the broker is not trusted — anyone with a broker account
//! can publish. Ed25519 separates who may sign from who may check: a worker holds the
//! dispatcher's public key only, so a compromised worker cannot make tasks, and checking
//! costs microseconds where a lookup costs a round trip. docs/security.md has the whole
//! threat model.
//!
//! One signature covers a group of up to [`GROUP`] messages: the dispatcher signs the root
//! of a Merkle tree over the group's bodies, and each message carries that signature
//! ([`SIGNATURE_HEADER`]: `ed25519 <key id> <base64 signature>`) and the path from its body
//! to the root ([`PROOF_HEADER`]: `<index> <base64 of the sibling hashes>`). A reader
//! hashes the body up the path and checks the signature over the root — once per group: a
//! root whose signature checked out is remembered. An Ed25519 signature and its check cost
//! tens of microseconds, a path of six SHA-256 steps one or two: per device the
//! signatures cost 6.9 µs in all, 0.4 % of what a device costs the fleet
//! (`netraven bench`, docs/performance.md). A message sent alone (a worker's results) is
//! a group of one, with no proof header.
//!
//! The tree is complete (the leaves padded to a power of two with a fixed empty hash) and
//! domain-separated (leaf `SHA-256(0x00 ‖ body)`, node `SHA-256(0x01 ‖ left ‖ right)`,
//! padding `SHA-256(0x02)`), so no inner node passes for a body. It is written here, not
//! taken from a Merkle crate, because that is all of it: the crates carry the leaf count
//! in every proof and hash inner nodes and leaves alike.
//!
//! The signed bytes are `netraven/<purpose>/v1` ‖ `\n` ‖ namespace ‖ `\n` ‖ root: a
//! signature over tasks never passes for results, nor in another namespace.
//!
//! Key files, one key a line, `#` starting a comment:
//! - private (`signing.key_file`): `<issuer> <id> <base64 of a 32-byte Ed25519 seed>`; the
//!   first key of an issuer signs, the others are kept so that their public halves stay
//!   trusted while a rotation rolls out;
//! - public (`signing.trusted_keys_file`): `<issuer> <id> <base64 of a 32-byte public key>`.
//!
//! The issuer is `dispatcher` or `worker`. A role also trusts the public halves of its own
//! private keys, so one file can serve every role on a development machine.

use crate::config::SigningSettings;
use crate::{Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The AMQP header that carries the signature over a message's group.
pub const SIGNATURE_HEADER: &str = "x-netraven-signature";
/// The AMQP header that carries a message's path to its group's signed root.
pub const PROOF_HEADER: &str = "x-netraven-proof";
/// How a worker's dead-letter reason begins when it refuses a task for its signature.
pub const REFUSED_TASK: &str = "device task refused";
/// Messages under one signature at most: a proof is then six hashes.
pub const GROUP: usize = 64;
const SCHEME: &str = "ed25519";
const SEED_LEN: usize = 32;
/// Deepest path accepted: a group of [`GROUP`] needs 6.
const MAX_DEPTH: usize = 6;
/// Roots a verifier remembers as signed before it starts afresh.
const REMEMBERED_ROOTS: usize = 4096;

type Hash = [u8; 32];

fn leaf(body: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(body)
        .finalize()
        .into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

fn padding() -> Hash {
    Sha256::digest([2u8]).into()
}

/// Who signs a kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    Dispatcher,
    Worker,
}

impl Issuer {
    pub fn as_str(self) -> &'static str {
        match self {
            Issuer::Dispatcher => "dispatcher",
            Issuer::Worker => "worker",
        }
    }

    fn parse(s: &str) -> Option<Issuer> {
        match s {
            "dispatcher" => Some(Issuer::Dispatcher),
            "worker" => Some(Issuer::Worker),
            _ => None,
        }
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a signature vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A device task (`<ns>.tasks`), signed by the dispatcher.
    DeviceTask,
    /// A worker's results (`<ns>.results`), one message or a batch.
    TaskResults,
}

impl Purpose {
    pub fn issuer(self) -> Issuer {
        match self {
            Purpose::DeviceTask => Issuer::Dispatcher,
            Purpose::TaskResults => Issuer::Worker,
        }
    }

    fn context(self, namespace: &str) -> Vec<u8> {
        let label = match self {
            Purpose::DeviceTask => "device-task",
            Purpose::TaskResults => "task-results",
        };
        format!("netraven/{label}/v1\n{namespace}\n").into_bytes()
    }
}

/// Why a message's signature was not accepted. The text never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unsigned: the message has no {SIGNATURE_HEADER} header")]
    Unsigned,
    #[error(
        "the {SIGNATURE_HEADER} header is not `{SCHEME} <key id> <base64 signature>`, or the \
         {PROOF_HEADER} header not `<index> <base64 hashes>`"
    )]
    Malformed,
    #[error("signed with key {0:?}, which is not a trusted {1} key")]
    UnknownKey(String, Issuer),
    #[error("the signature of key {0:?} does not match the message (altered or forged)")]
    BadSignature(String),
}

impl Rejection {
    /// Every value [`Rejection::label`] takes.
    pub const LABELS: [&'static str; 4] = [
        "unsigned",
        "malformed_signature",
        "unknown_key",
        "bad_signature",
    ];

    /// Exports `netraven_messages_rejected_total` at zero for every reason on `queue`, so
    /// that a dashboard and an alert see the series before the first forgery.
    pub fn export_zero(queue: &str) {
        let counter = &crate::telemetry::metrics::get().messages_rejected_total;
        for reason in Rejection::LABELS {
            counter.with_label_values(&[queue, reason]);
        }
    }

    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Unsigned => "unsigned",
            Rejection::Malformed => "malformed_signature",
            Rejection::UnknownKey(..) => "unknown_key",
            Rejection::BadSignature(_) => "bad_signature",
        }
    }
}

struct PrivateKey {
    issuer: Issuer,
    id: String,
    pair: Ed25519KeyPair,
}

/// The private signing keys of a role. `Debug` shows key ids only.
pub struct SigningKeys {
    keys: Vec<Arc<PrivateKey>>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{} {}", k.issuer, k.id))
            .collect();
        f.debug_struct("SigningKeys").field("keys", &ids).finish()
    }
}

/// One parsed line of either key file.
struct Line<'a> {
    n: usize,
    issuer: Issuer,
    id: &'a str,
    material: Vec<u8>,
}

/// Parses `<issuer> <id> <base64 32 bytes>` lines; `what` names the file kind in errors.
fn lines<'a>(text: &'a str, what: &str) -> Result<Vec<Line<'a>>> {
    let mut out: Vec<Line<'a>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| Error::Key(format!("{what}, line {n}: {why}"));
        let mut parts = line.split_whitespace();
        let (Some(issuer), Some(id), Some(material), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected `<dispatcher|worker> <key id> <base64 key>`"));
        };
        let issuer =
            Issuer::parse(issuer).ok_or_else(|| bad("the issuer is `dispatcher` or `worker`"))?;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad("the key id may hold letters, digits and '-'"));
        }
        let material = B64
            .decode(material)
            .map_err(|_| bad("the key is not base64"))?;
        if material.len() != SEED_LEN {
            return Err(bad(&format!(
                "the key must be {SEED_LEN} bytes, found {}",
                material.len()
            )));
        }
        if out.iter().any(|l| l.id == id) {
            return Err(bad(&format!("key id {id:?} appears twice")));
        }
        out.push(Line {
            n,
            issuer,
            id,
            material,
        });
    }
    Ok(out)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl SigningKeys {
    /// Parses the private key file's format.
    pub fn parse(text: &str) -> Result<SigningKeys> {
        let mut keys = Vec::new();
        for l in lines(text, "signing key")? {
            let pair = Ed25519KeyPair::from_seed_unchecked(&l.material)
                .map_err(|_| Error::Key(format!("signing key, line {}: unusable key", l.n)))?;
            keys.push(Arc::new(PrivateKey {
                issuer: l.issuer,
                id: l.id.to_string(),
                pair,
            }));
        }
        if keys.is_empty() {
            return Err(Error::Key("the signing key file holds no key".into()));
        }
        Ok(SigningKeys { keys })
    }

    pub fn load(path: &Path) -> Result<SigningKeys> {
        SigningKeys::parse(&read(path)?).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// The role's private keys from `signing.key` or `signing.key_file`, if either is set.
    pub fn from_settings(s: &SigningSettings) -> Result<Option<SigningKeys>> {
        if let Some(text) = &s.key {
            return SigningKeys::parse(text.expose_secret()).map(Some);
        }
        s.key_file.as_deref().map(SigningKeys::load).transpose()
    }

    /// The role's private keys, holding a key of `issuer`; the error says how to make one.
    pub fn required(s: &SigningSettings, issuer: Issuer) -> Result<SigningKeys> {
        let missing = || {
            Error::Key(format!(
                "no {issuer} signing key: set signing.key_file (create one with \
                 `netraven signing init --issuer {issuer} --key-file PATH`)"
            ))
        };
        let keys = SigningKeys::from_settings(s)?.ok_or_else(missing)?;
        if keys.keys.iter().any(|k| k.issuer == issuer) {
            Ok(keys)
        } else {
            Err(missing())
        }
    }

    /// A new private key line for `issuer`, from the system's random source.
    pub fn generate_line(issuer: Issuer) -> Result<String> {
        let mut seed = [0u8; SEED_LEN];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::Key("system random source failed".into()))?;
        let mut tail = [0u8; 2];
        SystemRandom::new()
            .fill(&mut tail)
            .map_err(|_| Error::Key("system random source failed".into()))?;
        let id = format!(
            "{}{}-{:02x}{:02x}",
            &issuer.as_str()[..1],
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            tail[0],
            tail[1]
        );
        Ok(format!("{issuer} {id} {}", B64.encode(seed)))
    }

    /// The public halves, in the trusted-keys file's format, one a line.
    pub fn public_lines(&self) -> String {
        self.keys
            .iter()
            .map(|k| {
                format!(
                    "{} {} {}\n",
                    k.issuer,
                    k.id,
                    B64.encode(k.pair.public_key().as_ref())
                )
            })
            .collect()
    }

    /// The signer of `purpose` in `namespace`: the first key of the purpose's issuer.
    pub fn signer(&self, purpose: Purpose, namespace: &str) -> Result<Signer> {
        let issuer = purpose.issuer();
        let key = self
            .keys
            .iter()
            .find(|k| k.issuer == issuer)
            .ok_or_else(|| Error::Key(format!("the signing keys hold no {issuer} key")))?;
        Ok(Signer {
            context: purpose.context(namespace),
            key: key.clone(),
        })
    }
}

/// Signs one kind of message in one namespace.
#[derive(Clone)]
pub struct Signer {
    context: Vec<u8>,
    key: Arc<PrivateKey>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("key", &self.key.id).finish()
    }
}

/// What a group of messages carries: one signature, and a proof for each message.
#[derive(Debug, Clone)]
pub struct SignedGroup {
    /// The value of [`SIGNATURE_HEADER`], the same on every message of the group.
    pub signature: String,
    /// The value of [`PROOF_HEADER`] for each message, in the order given.
    pub proofs: Vec<String>,
}

impl Signer {
    /// The value of [`SIGNATURE_HEADER`] for a message sent alone (a group of one, which
    /// needs no proof).
    pub fn sign(&self, body: &[u8]) -> String {
        self.sign_root(&leaf(body))
    }

    /// One signature over `bodies` (at most [`GROUP`]; more are signed in several groups
    /// by the caller) and each body's proof.
    pub fn sign_group(&self, bodies: &[&[u8]]) -> SignedGroup {
        debug_assert!(bodies.len() <= GROUP);
        let width = bodies.len().max(1).next_power_of_two();
        let mut levels: Vec<Vec<Hash>> = vec![bodies
            .iter()
            .map(|b| leaf(b))
            .chain(std::iter::repeat(padding()))
            .take(width)
            .collect()];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let up = below.chunks(2).map(|p| node(&p[0], &p[1])).collect();
            levels.push(up);
        }
        let root = levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_else(padding);
        let proofs = (0..bodies.len())
            .map(|i| {
                let mut path = Vec::with_capacity(32 * levels.len());
                for (depth, level) in levels[..levels.len() - 1].iter().enumerate() {
                    path.extend_from_slice(&level[(i >> depth) ^ 1]);
                }
                format!("{i} {}", B64.encode(path))
            })
            .collect();
        SignedGroup {
            signature: self.sign_root(&root),
            proofs,
        }
    }

    fn sign_root(&self, root: &Hash) -> String {
        let mut message = Vec::with_capacity(self.context.len() + root.len());
        message.extend_from_slice(&self.context);
        message.extend_from_slice(root);
        let sig = self.key.pair.sign(&message);
        format!("{SCHEME} {} {}", self.key.id, B64.encode(sig.as_ref()))
    }
}

/// Public keys a role believes, by issuer.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<(Issuer, String, Vec<u8>)>,
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .keys
            .iter()
            .map(|(issuer, id, _)| format!("{issuer} {id}"))
            .collect();
        f.debug_struct("TrustedKeys").field("keys", &ids).finish()
    }
}

impl TrustedKeys {
    /// Parses the trusted-keys file's format.
    pub fn parse(text: &str) -> Result<TrustedKeys> {
        Ok(TrustedKeys {
            keys: lines(text, "trusted keys")?
                .into_iter()
                .map(|l| (l.issuer, l.id.to_string(), l.material))
                .collect(),
        })
    }

    /// `signing.trusted_keys` or `signing.trusted_keys_file`, plus the public halves of the
    /// role's own private keys.
    pub fn from_settings(s: &SigningSettings) -> Result<TrustedKeys> {
        let mut trusted = match (&s.trusted_keys, &s.trusted_keys_file) {
            (Some(text), _) => TrustedKeys::parse(text)?,
            (None, Some(path)) => TrustedKeys::parse(&read(path)?)
                .map_err(|e| Error::Key(format!("{}: {e}", path.display())))?,
            (None, None) => TrustedKeys::default(),
        };
        if let Some(own) = SigningKeys::from_settings(s)? {
            for k in &own.keys {
                if !trusted.keys.iter().any(|(_, id, _)| *id == k.id) {
                    let public = k.pair.public_key().as_ref().to_vec();
                    trusted.keys.push((k.issuer, k.id.clone(), public));
                }
            }
        }
        Ok(trusted)
    }

    /// The verifier of `purpose` in `namespace`; fails when no key of its issuer is trusted,
    /// since a role that could verify nothing would refuse every message.
    pub fn verifier(&self, purpose: Purpose, namespace: &str) -> Result<Verifier> {
        let issuer = purpose.issuer();
        let keys: Vec<(String, Vec<u8>)> = self
            .keys
            .iter()
            .filter(|(i, _, _)| *i == issuer)
            .map(|(_, id, key)| (id.clone(), key.clone()))
            .collect();
        if keys.is_empty() {
            return Err(Error::Key(format!(
                "no trusted {issuer} key: add its public key to signing.trusted_keys_file \
                 (`netraven signing public --key-file <the {issuer}'s key file>` prints it)"
            )));
        }
        Ok(Verifier {
            issuer,
            context: purpose.context(namespace),
            keys,
            signed_roots: Mutex::new(HashSet::new()),
        })
    }
}

/// Checks one kind of message in one namespace, remembering the group roots whose
/// signature checked out.
#[derive(Debug)]
pub struct Verifier {
    issuer: Issuer,
    context: Vec<u8>,
    keys: Vec<(String, Vec<u8>)>,
    /// (key id, root) pairs already checked: the rest of a group costs hashes only.
    signed_roots: Mutex<HashSet<(String, Hash)>>,
}

impl Verifier {
    /// Accepts `body` only with a valid signature of a trusted key of the right issuer
    /// over the root its `proof` leads to (no proof: the body alone is the group).
    pub fn verify(
        &self,
        body: &[u8],
        signature: Option<&str>,
        proof: Option<&str>,
    ) -> Result<(), Rejection> {
        let header = signature.ok_or(Rejection::Unsigned)?;
        let mut parts = header.split(' ');
        let (Some(SCHEME), Some(id), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed);
        };
        let Some((_, key)) = self.keys.iter().find(|(k, _)| k == id) else {
            // The id is the sender's words: bounded before it reaches a log or a header.
            let shown: String = id.chars().take(64).collect();
            return Err(Rejection::UnknownKey(shown, self.issuer));
        };
        let root = root_of(leaf(body), proof)?;
        let remembered = (id.to_string(), root);
        if self.remembers(&remembered) {
            return Ok(());
        }
        let sig = B64.decode(sig).map_err(|_| Rejection::Malformed)?;
        let mut message = Vec::with_capacity(self.context.len() + root.len());
        message.extend_from_slice(&self.context);
        message.extend_from_slice(&root);
        UnparsedPublicKey::new(&signature::ED25519, key)
            .verify(&message, &sig)
            .map_err(|_| Rejection::BadSignature(id.to_string()))?;
        let mut roots = self.signed_roots.lock().unwrap_or_else(|p| p.into_inner());
        if roots.len() >= REMEMBERED_ROOTS {
            roots.clear();
        }
        roots.insert(remembered);
        Ok(())
    }

    fn remembers(&self, root: &(String, Hash)) -> bool {
        self.signed_roots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(root)
    }
}

/// The root that `leaf` and its proof (`<index> <base64 sibling hashes>`) lead to.
fn root_of(mut hash: Hash, proof: Option<&str>) -> Result<Hash, Rejection> {
    let Some(proof) = proof else {
        return Ok(hash);
    };
    let (index, path) = proof.split_once(' ').ok_or(Rejection::Malformed)?;
    let index: usize = index.parse().map_err(|_| Rejection::Malformed)?;
    let path = B64.decode(path).map_err(|_| Rejection::Malformed)?;
    if path.len() % 32 != 0 || path.len() / 32 > MAX_DEPTH || index >> (path.len() / 32) != 0 {
        return Err(Rejection::Malformed);
    }
    for (depth, sibling) in path.chunks_exact(32).enumerate() {
        let sibling: &Hash = sibling.try_into().map_err(|_| Rejection::Malformed)?;
        hash = if (index >> depth) & 1 == 0 {
            node(&hash, sibling)
        } else {
            node(sibling, &hash)
        };
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SigningKeys {
        let text = format!(
            "{}\n{}\n",
            SigningKeys::generate_line(Issuer::Dispatcher).expect("key"),
            SigningKeys::generate_line(Issuer::Worker).expect("key")
        );
        SigningKeys::parse(&text).expect("parses")
    }

    #[test]
    fn a_signed_message_verifies_and_any_change_is_refused() {
        let own = keys();
        let signer = own.signer(Purpose::DeviceTask, "ns").expect("signer");
        let trusted = TrustedKeys::parse(&own.public_lines()).expect("public");
        let verifier = trusted
            .verifier(Purpose::DeviceTask, "ns")
            .expect("verifier");
        let body = br#"{"device":{"host":"10.0.0.1","port":22}}"#;
        let sig = signer.sign(body);
        assert_eq!(verifier.verify(body, Some(&sig), None), Ok(()));

        let altered = br#"{"device":{"host":"10.6.6.6","port":22}}"#;
        assert!(matches!(
            verifier.verify(altered, Some(&sig), None),
            Err(Rejection::BadSignature(_))
        ));
        assert_eq!(verifier.verify(body, None, None), Err(Rejection::Unsigned));
        assert_eq!(
            verifier.verify(body, Some("ed25519 only-two"), None),
            Err(Rejection::Malformed)
        );
        // The same bytes in another namespace, or as results, do not pass.
        let elsewhere = trusted.verifier(Purpose::DeviceTask, "other").expect("v");
        assert!(elsewhere.verify(body, Some(&sig), None).is_err());
        let as_results = trusted.verifier(Purpose::TaskResults, "ns").expect("v");
        assert!(as_results.verify(body, Some(&sig), None).is_err());
    }

    #[test]
    fn every_member_of_a_group_verifies_and_nothing_else_does() {
        let own = keys();
        let signer = own.signer(Purpose::DeviceTask, "ns").expect("signer");
        let trusted = TrustedKeys::parse(&own.public_lines()).expect("public");
        for n in [1, 2, 3, 5, 63, 64] {
            let bodies: Vec<Vec<u8>> = (0..n).map(|i| format!("task {i}").into_bytes()).collect();
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            let group = signer.sign_group(&refs);
            // A fresh verifier each time, so that every check does the signature's work.
            for (i, body) in bodies.iter().enumerate() {
                let v = trusted.verifier(Purpose::DeviceTask, "ns").expect("v");
                let proof = Some(group.proofs[i].as_str());
                assert_eq!(
                    v.verify(body, Some(&group.signature), proof),
                    Ok(()),
                    "{n}/{i}"
                );
                // Another member's proof, another body, no proof: refused.
                let other = &group.proofs[(i + 1) % n];
                if n > 1 {
                    assert!(v.verify(body, Some(&group.signature), Some(other)).is_err());
                    assert!(v.verify(body, Some(&group.signature), None).is_err());
                }
                assert!(v.verify(b"forged", Some(&group.signature), proof).is_err());
            }
        }
        // A remembered root does not make an altered member pass.
        let bodies: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        let group = signer.sign_group(&bodies);
        let v = trusted.verifier(Purpose::DeviceTask, "ns").expect("v");
        assert_eq!(
            v.verify(b"a", Some(&group.signature), Some(&group.proofs[0])),
            Ok(())
        );
        assert!(v
            .verify(b"x", Some(&group.signature), Some(&group.proofs[0]))
            .is_err());
        // Proofs too deep or pointing past their path are malformed.
        let deep = format!("0 {}", B64.encode([0u8; 32 * 7]));
        assert_eq!(root_of([0; 32], Some(&deep)), Err(Rejection::Malformed));
        let past = format!("4 {}", B64.encode([0u8; 64]));
        assert_eq!(root_of([0; 32], Some(&past)), Err(Rejection::Malformed));
    }

    #[test]
    fn a_worker_key_cannot_sign_tasks() {
        let own = keys();
        let trusted = TrustedKeys::parse(&own.public_lines()).expect("public");
        let tasks = trusted
            .verifier(Purpose::DeviceTask, "ns")
            .expect("verifier");
        // A worker signing a task with its own key, relabelled as anything: refused.
        let worker = own
            .signer(Purpose::TaskResults, "ns")
            .expect("worker signer");
        let body = b"{}";
        let forged = worker.sign(body);
        assert!(matches!(
            tasks.verify(body, Some(&forged), None),
            Err(Rejection::UnknownKey(_, Issuer::Dispatcher))
        ));
    }

    #[test]
    fn own_keys_are_trusted_and_nothing_prints_a_seed() {
        let line = SigningKeys::generate_line(Issuer::Dispatcher).expect("key");
        let seed = line.split(' ').nth(2).expect("seed").to_string();
        let settings = SigningSettings {
            key: Some(line.clone().into()),
            ..SigningSettings::default()
        };
        let own = SigningKeys::from_settings(&settings)
            .expect("loads")
            .expect("some");
        assert!(!format!("{own:?}").contains(&seed));
        assert!(!own.public_lines().contains(&seed));
        let trusted = TrustedKeys::from_settings(&settings).expect("trusted");
        assert!(trusted.verifier(Purpose::DeviceTask, "ns").is_ok());
        let err = trusted
            .verifier(Purpose::TaskResults, "ns")
            .expect_err("no worker key");
        assert!(err.to_string().contains("no trusted worker key"), "{err}");
    }

    #[test]
    fn key_files_are_checked_line_by_line() {
        for (text, why) in [
            ("", "holds no key"),
            ("admin k1 AAAA", "issuer"),
            ("worker k1", "expected"),
            ("worker k/1 AAAA", "key id"),
            ("worker k1 not-base64!", "not base64"),
            ("worker k1 c2hvcnQ=", "32 bytes"),
        ] {
            let err = SigningKeys::parse(text).expect_err(text).to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        let line = SigningKeys::generate_line(Issuer::Worker).expect("key");
        let twice = format!("{line}\n{line}\n");
        assert!(SigningKeys::parse(&twice)
            .expect_err("twice")
            .to_string()
            .contains("twice"));
    }
}
