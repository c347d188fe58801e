//! TikTok's chunk arithmetic for `FILE_UPLOAD`
//! (<https://developers.tiktok.com/doc/content-posting-api-media-transfer-guide>): each chunk
//! 5–64 MB, `total_chunk_count = floor(video_size / chunk_size)`, the last chunk taking the
//! trailing bytes (up to 128 MB), a video under 5 MB sent whole, 1 to 1000 chunks. Pure
//! arithmetic, no I/O: the upload itself is in `platforms::tiktok`.

/// TikTok's chunk limits. "MB" is read in whichever sense is stricter: the minimum as MiB, the
/// maxima as decimal megabytes, so a plan is valid under either reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRules {
    pub min: u64,
    pub max: u64,
    pub last_max: u64,
    pub max_chunks: u64,
}

impl ChunkRules {
    pub const TIKTOK: ChunkRules = ChunkRules {
        min: 5 * 1024 * 1024,
        max: 64_000_000,
        last_max: 128_000_000,
        max_chunks: 1000,
    };

    /// The same rules divided by `n` (tests: a strict fake that moves kilobytes).
    pub fn scaled_down(n: u64) -> Self {
        let n = n.max(1);
        let t = Self::TIKTOK;
        Self {
            min: t.min / n,
            max: t.max / n,
            last_max: t.last_max / n,
            max_chunks: t.max_chunks,
        }
    }
}

/// How a video is cut for upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    pub video_size: u64,
    pub chunk_size: u64,
    pub total_chunk_count: u64,
}

impl ChunkPlan {
    /// Plan a `size`-byte upload with chunks near `preferred` bytes under `rules`.
    pub fn new(size: u64, preferred: u64, rules: ChunkRules) -> Result<Self, String> {
        if size == 0 {
            return Err("the video is empty".into());
        }
        if size < rules.min {
            return Ok(Self {
                video_size: size,
                chunk_size: size,
                total_chunk_count: 1,
            });
        }
        // Big enough to stay within 1000 chunks, within [min, max], never more than the file.
        let needed = size.div_ceil(rules.max_chunks);
        let chunk_size = preferred.clamp(rules.min, rules.max).max(needed).min(size);
        if chunk_size > rules.max {
            return Err(format!(
                "a {size}-byte video needs more than {} chunks of at most {} bytes",
                rules.max_chunks, rules.max
            ));
        }
        let plan = Self {
            video_size: size,
            chunk_size,
            total_chunk_count: size / chunk_size,
        };
        if plan.range(plan.total_chunk_count - 1).1 - plan.range(plan.total_chunk_count - 1).0
            > rules.last_max
        {
            return Err("the last chunk would exceed TikTok's maximum".into());
        }
        Ok(plan)
    }

    /// Bytes `[start, end)` of chunk `i`; the last chunk takes the remainder.
    pub fn range(&self, i: u64) -> (u64, u64) {
        let start = i * self.chunk_size;
        let end = if i + 1 >= self.total_chunk_count {
            self.video_size
        } else {
            start + self.chunk_size
        };
        (start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn a_video_under_the_minimum_goes_whole() {
        let p = ChunkPlan::new(3 * MIB, 10 * MIB, ChunkRules::TIKTOK).unwrap();
        assert_eq!((p.chunk_size, p.total_chunk_count), (3 * MIB, 1));
        assert_eq!(p.range(0), (0, 3 * MIB));
    }

    #[test]
    fn the_last_chunk_takes_the_remainder() {
        // 25 MiB in 10 MiB chunks: floor(25/10) = 2 chunks, the second 15 MiB.
        let p = ChunkPlan::new(25 * MIB, 10 * MIB, ChunkRules::TIKTOK).unwrap();
        assert_eq!((p.chunk_size, p.total_chunk_count), (10 * MIB, 2));
        assert_eq!(p.range(1), (10 * MIB, 25 * MIB));
    }

    proptest! {
        #[test]
        fn every_plan_keeps_tiktoks_chunk_rules(size in 1u64..70_000_000_000, preferred in 0u64..200_000_000) {
            let r = ChunkRules::TIKTOK;
            match ChunkPlan::new(size, preferred, r) {
                Err(_) => prop_assert!(size > r.max * r.max_chunks),
                Ok(p) => {
                    prop_assert_eq!(p.total_chunk_count, size / p.chunk_size);
                    prop_assert!((1..=r.max_chunks).contains(&p.total_chunk_count));
                    if size < r.min {
                        prop_assert_eq!(p.chunk_size, size);
                    } else {
                        prop_assert!(p.chunk_size >= r.min && p.chunk_size <= r.max);
                    }
                    let mut covered = 0;
                    for i in 0..p.total_chunk_count {
                        let (s, e) = p.range(i);
                        prop_assert_eq!(s, covered);
                        let len = e - s;
                        if i + 1 < p.total_chunk_count {
                            prop_assert_eq!(len, p.chunk_size);
                        } else {
                            prop_assert!(len >= p.chunk_size && len <= r.last_max);
                        }
                        covered = e;
                    }
                    prop_assert_eq!(covered, size);
                }
            }
        }
    }
}
