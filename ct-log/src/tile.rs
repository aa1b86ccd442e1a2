//! tlog-tiles hash storage (C2SP tlog-tiles, static-ct-api): 256-wide tiles of height 8.
//!
//! No HTTP, no database. Tile `n` at level `l` holds the hashes of the perfect subtrees at tree
//! level `8l` with indices `256n .. 256n+255`; level 0 holds leaf hashes. Any node of the tree
//! is the Merkle hash of at most 128 consecutive hashes of one tile, so a proof costs one tile
//! read per tree level band: O(log n) reads, and a tree of n leaves stores about n·32·(1+1/256)
//! bytes of hashes.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::merkle::NodeId;
use crate::rfc6962::{Hash, node_hash};

/// Hashes per full tile.
pub const WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const HEIGHT: u8 = 8;

/// One tile of hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level: its hashes are at tree level `8 * level`.
    pub level: u8,
    /// Position among the tiles of that level.
    pub index: u64,
}

/// Where node `id`'s hash comes from: a tile and the `count` hashes from `start` whose Merkle
/// hash it is.
pub fn locate(id: NodeId) -> (TileId, usize, usize) {
    let tile_level = id.level / HEIGHT;
    let rest = id.level % HEIGHT;
    let first = id.index << rest;
    let tile = TileId {
        level: tile_level,
        index: first / WIDTH,
    };
    (tile, (first % WIDTH) as usize, 1usize << rest)
}

/// The Merkle hash of `count` (a power of two) consecutive hashes of a tile from `start`, or
/// `None` if the tile does not hold them yet.
pub fn node_from_tile(tile: &[Hash], start: usize, count: usize) -> Option<Hash> {
    if !count.is_power_of_two() {
        return None;
    }
    let run = tile.get(start..start + count)?;
    match subtrees(run).last() {
        Some(top) => top.first().copied(),
        None => run.first().copied(),
    }
}

/// A stored tile's hashes and, built when a proof first needs one, every perfect subtree they
/// span.
///
/// The inclusion proof of a new entry needs up to seven subtrees of the newest level-0 tile
/// (and as many of each tile above it), 247 hashes when each is rebuilt from the tile for every
/// proof: a tenth of a Rekor upload's CPU. Built once per tile version, at most 255 hashes,
/// they serve every proof until the next commit replaces the tile.
#[derive(Debug)]
pub struct Tile {
    hashes: Vec<Hash>,
    subtrees: OnceLock<Vec<Vec<Hash>>>,
}

impl Tile {
    /// A tile of `hashes`, at most [`WIDTH`].
    pub fn new(hashes: Vec<Hash>) -> Tile {
        Tile {
            hashes,
            subtrees: OnceLock::new(),
        }
    }

    /// The tile's hashes, as stored and served.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// [`node_from_tile`] of this tile, from its subtrees when `start` and `count` are aligned
    /// as [`locate`] gives them.
    pub fn node(&self, start: usize, count: usize) -> Option<Hash> {
        if count == 1 {
            return self.hashes.get(start).copied();
        }
        if !count.is_power_of_two() {
            return None;
        }
        if !start.is_multiple_of(count) {
            return node_from_tile(&self.hashes, start, count);
        }
        let subtrees = self.subtrees.get_or_init(|| subtrees(&self.hashes));
        let height = count.trailing_zeros() as usize;
        subtrees.get(height - 1)?.get(start / count).copied()
    }
}

/// The perfect subtrees over `hashes`, lowest first: entry `r` holds the Merkle hashes of each
/// complete run of `2^(r+1)` hashes.
fn subtrees(hashes: &[Hash]) -> Vec<Vec<Hash>> {
    let mut levels: Vec<Vec<Hash>> = Vec::new();
    loop {
        let below = levels.last().map_or(hashes, Vec::as_slice);
        let next: Vec<Hash> = below
            .chunks_exact(2)
            .map(|pair| node_hash(&pair[0], &pair[1]))
            .collect();
        if next.is_empty() {
            return levels;
        }
        levels.push(next);
    }
}

/// The number of hashes in the tiles of `level` for a tree of `size` leaves.
fn entries_at(level: u8, size: u64) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(HEIGHT))
        .unwrap_or(0)
}

/// The partial (right-edge) tiles of a tree of `size` and their widths, lowest level first.
pub fn partial_tiles(size: u64) -> Vec<(TileId, usize)> {
    (0..8)
        .map(|level| (level, entries_at(level, size)))
        .filter(|(_, n)| n % WIDTH != 0)
        .map(|(level, n)| {
            (
                TileId {
                    level,
                    index: n / WIDTH,
                },
                (n % WIDTH) as usize,
            )
        })
        .collect()
}

/// The right edge of a tree's tiles: the partial tile of each level, extended as leaves are
/// appended. Owned by the sequencer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TileEdge {
    size: u64,
    edges: Vec<Vec<Hash>>,
}

impl TileEdge {
    /// An edge rebuilt from the contents of [`partial_tiles`]`(size)`, lowest level first.
    pub fn from_partials(size: u64, partials: Vec<Vec<Hash>>) -> TileEdge {
        let mut edges = vec![Vec::new(); 8];
        for ((tile, width), hashes) in partial_tiles(size).into_iter().zip(partials) {
            debug_assert_eq!(hashes.len(), width);
            edges[tile.level as usize] = hashes;
        }
        TileEdge { size, edges }
    }

    /// Appends leaf hashes and returns every tile they changed, with its new contents.
    pub fn append(&mut self, leaf_hashes: &[Hash]) -> BTreeMap<TileId, Vec<Hash>> {
        if self.edges.is_empty() {
            self.edges = vec![Vec::new(); 8];
        }
        let mut changed = BTreeMap::new();
        // The deepest level a leaf of this batch reached: its partial tiles are copied out
        // once at the end, not once per leaf.
        let mut touched = 0usize;
        for leaf in leaf_hashes {
            let mut hash = *leaf;
            let mut level = 0usize;
            loop {
                let index = entries_at(level as u8, self.size) / WIDTH;
                self.edges[level].push(hash);
                touched = touched.max(level);
                if self.edges[level].len() as u64 == WIDTH {
                    let full = std::mem::take(&mut self.edges[level]);
                    hash = node_from_tile(&full, 0, WIDTH as usize)
                        .expect("a full tile has 256 hashes");
                    let id = TileId {
                        level: level as u8,
                        index,
                    };
                    changed.insert(id, full);
                    level += 1;
                    if level == self.edges.len() {
                        break;
                    }
                } else {
                    break;
                }
            }
            self.size += 1;
        }
        for level in 0..=touched.min(self.edges.len() - 1) {
            if !self.edges[level].is_empty() {
                let id = TileId {
                    level: level as u8,
                    index: entries_at(level as u8, self.size) / WIDTH,
                };
                changed.insert(id, self.edges[level].clone());
            }
        }
        changed
    }
}

/// A tile's URL path below the log prefix: `tile/<L>/<N>[.p/<W>]` with `N` in three-digit
/// groups, all but the last prefixed `x` (static-ct-api). `level` `None` means a data tile.
pub fn tile_path(level: Option<u8>, index: u64, partial_width: Option<usize>) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let last = groups.len() - 1;
    let digits: Vec<String> = groups
        .iter()
        .rev()
        .enumerate()
        .map(|(i, g)| {
            if i == last {
                format!("{g:03}")
            } else {
                format!("x{g:03}")
            }
        })
        .collect();
    let level = level.map_or("data".to_owned(), |l| l.to_string());
    let width = partial_width.map_or(String::new(), |w| format!(".p/{w}"));
    format!("tile/{level}/{}{width}", digits.join("/"))
}

/// Parses the part of a tile path after `tile/`: `(level or None for data, index, width)`.
pub fn parse_tile_path(path: &str) -> Option<(Option<u8>, u64, Option<usize>)> {
    let (level, rest) = path.split_once('/')?;
    let level = match level {
        "data" => None,
        l => Some(l.parse::<u8>().ok().filter(|l| *l < 64)?),
    };
    let (digits, width) = match rest.split_once(".p/") {
        Some((d, w)) => {
            let w: usize = w.parse().ok()?;
            if !(1..WIDTH as usize).contains(&w) {
                return None;
            }
            (d, Some(w))
        }
        None => (rest, None),
    };
    let groups: Vec<&str> = digits.split('/').collect();
    let mut index: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let digits = if i + 1 == groups.len() {
            *group
        } else {
            group.strip_prefix('x')?
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        index = index
            .checked_mul(1000)?
            .checked_add(digits.parse::<u64>().ok()?)?;
    }
    // The canonical form only: reject `x000/001` for 1.
    (tile_path(level, index, width) == format!("tile/{path}")).then_some((level, index, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{CompactRange, hash_range, perfect_nodes};
    use crate::rfc6962::leaf_hash;
    use std::collections::HashMap;

    #[test]
    fn paths_follow_static_ct_api() {
        assert_eq!(tile_path(Some(0), 1234067, None), "tile/0/x001/x234/067");
        assert_eq!(tile_path(Some(2), 5, Some(17)), "tile/2/005.p/17");
        assert_eq!(tile_path(None, 0, Some(112)), "tile/data/000.p/112");
        assert_eq!(
            parse_tile_path("0/x001/x234/067"),
            Some((Some(0), 1234067, None))
        );
        assert_eq!(
            parse_tile_path("data/000.p/112"),
            Some((None, 0, Some(112)))
        );
        for bad in [
            "0/1",
            "0/x000/001",
            "0/001.p/0",
            "0/001.p/256",
            "x/001",
            "0/01",
            "0/001.p/017",
        ] {
            assert_eq!(parse_tile_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn partial_tiles_of_the_static_ct_example() {
        // static-ct-api: s = 70,000 has an L0 partial of 112, an L1 partial of 17, an L2 of 1.
        let p = partial_tiles(70_000);
        assert_eq!(
            p,
            vec![
                (
                    TileId {
                        level: 0,
                        index: 273
                    },
                    112
                ),
                (TileId { level: 1, index: 1 }, 17),
                (TileId { level: 2, index: 0 }, 1)
            ]
        );
    }

    #[test]
    fn a_tiles_subtrees_are_the_nodes_rebuilt_from_its_hashes() {
        let hashes: Vec<Hash> = (0u64..256).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for width in [1usize, 2, 3, 7, 128, 200, 255, 256] {
            let tile = Tile::new(hashes[..width].to_vec());
            for count in (0..=8).map(|h| 1usize << h) {
                // Every aligned run, one past the tile's end, and a misaligned one.
                for start in (0..=width).step_by(count).chain([1]) {
                    assert_eq!(
                        tile.node(start, count),
                        node_from_tile(&hashes[..width], start, count),
                        "width {width}, start {start}, count {count}"
                    );
                }
            }
        }
    }

    /// Grows a tree across several tile boundaries in uneven batches, keeping the tiles the
    /// edge reports, and checks every node read back from them against a compact range.
    #[test]
    fn tiles_hold_every_node_of_a_growing_tree() {
        let mut tiles: HashMap<TileId, Vec<Hash>> = HashMap::new();
        let mut edge = TileEdge::default();
        let mut range = CompactRange::default();
        let mut size = 0u64;
        for batch in [1usize, 255, 1, 300, 70_000 - 557, 256 * 256, 3] {
            let leaves: Vec<Hash> = (size..size + batch as u64)
                .map(|i| leaf_hash(&i.to_be_bytes()))
                .collect();
            for l in &leaves {
                range.append(*l);
            }
            tiles.extend(edge.append(&leaves));
            size += batch as u64;
            // The root from tile-derived nodes equals the compact range's.
            let nodes: HashMap<_, _> = perfect_nodes(0, size)
                .into_iter()
                .map(|id| {
                    let (tile, start, count) = locate(id);
                    (id, node_from_tile(&tiles[&tile], start, count).unwrap())
                })
                .collect();
            assert_eq!(
                hash_range(0, size, &nodes).unwrap(),
                range.root(),
                "size {size}"
            );
            // The edge rebuilt from stored partial tiles continues identically.
            let partials = partial_tiles(size)
                .iter()
                .map(|(t, w)| tiles[t][..*w].to_vec())
                .collect();
            assert_eq!(TileEdge::from_partials(size, partials), edge);
        }
    }
}
