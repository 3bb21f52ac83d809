//! The Merkle tree over a group's bodies: leaves, inner nodes, padding, proofs and the
//! root a proof leads to.

use super::rejection::Rejection;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Messages under one signature at most: a proof is then six hashes.
pub const GROUP: usize = 64;
/// Deepest path accepted: a group of [`GROUP`] needs 6.
const MAX_DEPTH: usize = 6;

pub(super) type Hash = [u8; 32];

pub(super) fn leaf(body: &[u8]) -> Hash {
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

/// The root of the tree over `bodies` and each body's proof (`<index> <base64 sibling
/// hashes>`), in the order given.
pub(super) fn tree(bodies: &[&[u8]]) -> (Hash, Vec<String>) {
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
    (root, proofs)
}

/// The root that `leaf` and its proof (`<index> <base64 sibling hashes>`) lead to.
pub(super) fn root_of(mut hash: Hash, proof: Option<&str>) -> Result<Hash, Rejection> {
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
