//! Verified reads of part of a chunk: the BLAKE3 chaining values of its blocks.
//!
//! A chunk's hash is the root of BLAKE3's own tree over its bytes, and a full
//! 256 KiB chunk's tree is perfect: each aligned 16 KiB block is a subtree
//! with its own chaining value (CV). The row of a full chunk in a segment
//! keeps its 16 block CVs (`chunks.cvs`, docs/format.md "Segments"). A small
//! random read checks them against the chunk's hash (15 merges) and reads and
//! hashes only the blocks it touches, instead of the whole chunk: damaged
//! bytes are still never file data.

use super::content::CHUNK_SIZE;
use super::error::{Result, VaultError};
use blake3::hazmat::{
    ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root,
};

/// Bytes per block.
pub const BLOCK: usize = 16 * 1024;
/// Blocks per full chunk.
pub const BLOCKS: usize = CHUNK_SIZE / BLOCK;
/// Bytes of a full chunk's block CVs as stored in its row.
pub const CVS_LEN: usize = BLOCKS * 32;

/// The block CVs of a full chunk.
pub type BlockCvs = [ChainingValue; BLOCKS];

/// The CV of block `index` of a chunk.
fn block_cv(index: usize, bytes: &[u8]) -> ChainingValue {
    blake3::Hasher::new()
        .set_input_offset((index * BLOCK) as u64)
        .update(bytes)
        .finalize_non_root()
}

/// A full chunk's block CVs, and its hash (one pass over the bytes).
pub fn of_chunk(data: &[u8]) -> (BlockCvs, [u8; 32]) {
    debug_assert_eq!(data.len(), CHUNK_SIZE);
    let mut cvs = [[0u8; 32]; BLOCKS];
    for (i, block) in data.chunks(BLOCK).enumerate() {
        cvs[i] = block_cv(i, block);
    }
    let root = root(&cvs);
    (cvs, root)
}

/// The chunk hash the block CVs make: the perfect tree's root.
pub fn root(cvs: &BlockCvs) -> [u8; 32] {
    let mut level: Vec<ChainingValue> = cvs.to_vec();
    while level.len() > 2 {
        level = level
            .chunks(2)
            .map(|pair| merge_subtrees_non_root(&pair[0], &pair[1], Mode::Hash))
            .collect();
    }
    *merge_subtrees_root(&level[0], &level[1], Mode::Hash).as_bytes()
}

/// The stored form of block CVs.
pub fn to_bytes(cvs: &BlockCvs) -> Vec<u8> {
    cvs.concat()
}

/// Reads stored block CVs back and checks them against the chunk's hash.
pub fn from_bytes(bytes: &[u8], hash: &[u8; 32]) -> Result<BlockCvs> {
    let mut cvs = [[0u8; 32]; BLOCKS];
    for (cv, stored) in cvs.iter_mut().zip(bytes.chunks_exact(32)) {
        cv.copy_from_slice(stored);
    }
    if bytes.len() != CVS_LEN || &root(&cvs) != hash {
        return Err(VaultError::Corrupt(format!(
            "chunk {}: its block hashes do not match its hash",
            hex::encode(hash)
        )));
    }
    Ok(cvs)
}

/// Checks blocks `first..` (their bytes back to back) against their CVs.
pub fn check(cvs: &BlockCvs, first: usize, bytes: &[u8], hash: &[u8; 32]) -> Result<()> {
    for (i, block) in bytes.chunks(BLOCK).enumerate() {
        if block_cv(first + i, block) != cvs[first + i] {
            return Err(VaultError::Corrupt(format!(
                "chunk {} is damaged: block {} does not match its hash",
                hex::encode(hash),
                first + i
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..CHUNK_SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn the_block_tree_gives_the_chunks_blake3() {
        for seed in [1, 2, 3] {
            let data = noise(seed);
            let (cvs, hash) = of_chunk(&data);
            assert_eq!(&hash, blake3::hash(&data).as_bytes());
            assert_eq!(from_bytes(&to_bytes(&cvs), &hash).unwrap(), cvs);
            check(&cvs, 3, &data[3 * BLOCK..5 * BLOCK], &hash).unwrap();
        }
    }

    #[test]
    fn a_flipped_byte_fails_its_block_and_a_flipped_cv_fails_the_root() {
        let mut data = noise(9);
        let (cvs, hash) = of_chunk(&data);
        data[7 * BLOCK + 100] ^= 1;
        assert!(check(&cvs, 7, &data[7 * BLOCK..8 * BLOCK], &hash).is_err());
        check(&cvs, 6, &data[6 * BLOCK..7 * BLOCK], &hash).unwrap();
        let mut stored = to_bytes(&cvs);
        stored[40] ^= 1;
        assert!(from_bytes(&stored, &hash).is_err());
        assert!(from_bytes(&stored[..64], &hash).is_err());
    }
}
