//! Where chat's reactions are in a hype signal: peaks above the threshold taken highest first,
//! each claiming its region, and each reaction's start and end.
//!
//! The edges follow seed 001's derivative method: a reaction starts at the inflection point of
//! its rise (where the slope of the smoothed message rate is steepest) and ends at the
//! inflection point of its decay. For a symmetric smoothing that point is where the rate
//! crosses half-way between its level outside and inside the reaction, and that crossing is
//! what is located first: noise moves a crossing far less than it moves the argmax of a
//! derivative, which inside a long burst is mostly noise. The crossing is then sharpened to the
//! most likely change point of the raw counts around it (two Poisson rates, the typical one and
//! the reaction's), to a fraction of a bucket. Over random chats the edges land on the planted
//! ones with no bias and about 0.1 s of spread (`chat_tests.rs`).
//!
//! Signal arithmetic only; the messages and their scores are `chat`'s.

use super::chat::{ChatHype, ChatHypeConfig, Moment};
use super::peaks::local_maxima_above;

/// What a moment's edges are found in: the message rate (messages per bucket, smoothed by a
/// Gaussian), its typical (median) level between reactions, and the messages within the hype
/// window around each bucket. The rate rather than the scores: a reaction starts when people
/// start writing, and the scores' spread (1 to 30 per message) would only add noise to where.
pub(super) struct Edges {
    counts: Vec<f64>,
    smooth: Vec<f64>,
    in_window: Vec<f64>,
    base: f64,
    /// How far around a half-level crossing the change point is looked for (3 s, in buckets).
    reach: usize,
}

impl Edges {
    pub(super) fn new(counts: Vec<f64>, sigma: f64, half: usize, bucket_secs: f64) -> Self {
        let smooth = gaussian(&counts, sigma);
        let mut sorted = smooth.clone();
        sorted.sort_by(f64::total_cmp);
        let base = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        let in_window = centred_sum(&counts, half);
        let reach = ((3.0 / bucket_secs).ceil() as usize).max(2);
        Self {
            counts,
            smooth,
            in_window,
            base,
            reach,
        }
    }

    /// Where the smoothed rate first rises through, and last falls back through, half-way
    /// between its typical level and `level`, in `lo..=hi` (bucket units, interpolated).
    fn half_level_crossings(&self, lo: usize, hi: usize, level: f64) -> Option<(f64, f64)> {
        let e = &self.smooth;
        let mid = self.base + 0.5 * (level - self.base);
        let up = (lo..=hi).find(|&i| e[i] >= mid)?;
        let down = (up..=hi).rev().find(|&i| e[i] >= mid)?;
        let start = if up > lo {
            up as f64 - 1.0 + fraction(e[up - 1], e[up], mid)
        } else {
            up as f64
        };
        let end = if down < hi {
            down as f64 + 1.0 - fraction(e[down + 1], e[down], mid)
        } else {
            down as f64
        };
        Some((start, end))
    }

    /// The most likely point near `near` (bucket units) where the message rate steps between
    /// the typical level and the reaction's `level`, up (`rising`) or down: the split of the raw
    /// counts within `reach` that maximises the Poisson likelihood of the typical rate on one
    /// side and the reaction's on the other. Returned as a bucket boundary (`k − 0.5` is the
    /// boundary before bucket k); `near` itself when the levels do not differ.
    fn change_point(&self, near: f64, level: f64, rising: bool) -> f64 {
        // A silent background would make any message outside the reaction infinitely unlikely.
        let outside = self.base.max(level * 0.01).max(1e-3);
        if level.is_nan() || level <= outside {
            return near;
        }
        // What one bucket's count gains by belonging to the reaction rather than the background.
        let (ratio, cost) = ((level / outside).ln(), level - outside);
        let gain = |n: f64| n * ratio - cost;
        let c = &self.counts;
        let centre = (near.round().max(0.0) as usize).min(c.len().saturating_sub(1));
        let (lo, hi) = (
            centre.saturating_sub(self.reach),
            (centre + self.reach + 1).min(c.len()),
        );
        // Rising: the reaction is the buckets from the split on; falling: those before it.
        // Split k (before bucket k) is tried for every k in lo..=hi.
        let mut inside = if rising {
            c[lo..hi].iter().map(|&n| gain(n)).sum::<f64>()
        } else {
            0.0
        };
        let mut best = (lo, inside);
        for (i, &n) in c[lo..hi].iter().enumerate() {
            inside += if rising { -gain(n) } else { gain(n) };
            if inside > best.1 {
                best = (lo + i + 1, inside);
            }
        }
        let k = best.0;
        // The reaction's first (last) bucket may be only partly in it: place the edge inside
        // that bucket by how much of the reaction's rate it holds.
        let edge_bucket = if rising { k } else { k.wrapping_sub(1) };
        let partial = c.get(edge_bucket).map_or(0.0, |&n| {
            1.0 - ((n - outside) / (level - outside)).clamp(0.0, 1.0)
        });
        if rising {
            k as f64 - 0.5 + partial
        } else {
            k as f64 - 0.5 - partial
        }
    }
}

/// Where `mid` lies between `below` and `above` (0–1).
fn fraction(below: f64, above: f64, mid: f64) -> f64 {
    if above > below {
        ((mid - below) / (above - below)).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// Take peaks highest first; each claims its region (where the hype stays above its mean) and
/// the space around it, and gets its edges as the module explains.
pub(super) fn find_moments(
    hype: &ChatHype,
    edges: &Edges,
    half: usize,
    cfg: &ChatHypeConfig,
) -> Vec<Moment> {
    let s = &hype.signal;
    let gap = (cfg.min_gap_secs / hype.bucket_secs).round() as usize;
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut moments = Vec::new();
    for p in local_maxima_above(s, hype.threshold) {
        if moments.len() >= cfg.max_moments {
            break;
        }
        if taken.iter().any(|&(a, b)| (a..=b).contains(&p)) {
            continue;
        }
        let mut left = p;
        while left > 0 && s[left - 1] > hype.mean {
            left -= 1;
        }
        let mut right = p;
        while right + 1 < s.len() && s[right + 1] > hype.mean {
            right += 1;
        }
        // The raw reaction can start up to half a window before the summed signal rises.
        let (lo, hi) = (left.saturating_sub(half), (right + half).min(s.len() - 1));
        let first_level = edges.in_window[p] / (2 * half + 1) as f64;
        let (start, end) = edges
            .half_level_crossings(lo, hi, first_level)
            .and_then(|(a, b)| {
                let inside =
                    &edges.smooth[a.ceil() as usize..=(b.floor() as usize).max(a.ceil() as usize)];
                let level = inside.iter().sum::<f64>() / inside.len() as f64;
                let (a, b) = edges.half_level_crossings(lo, hi, level)?;
                Some((
                    edges.change_point(a, level, true),
                    edges.change_point(b, level, false),
                ))
            })
            .unwrap_or((left as f64, right as f64));
        let (start, end) = (start.min(p as f64), end.max(p as f64));
        taken.push((
            left.min(start.floor() as usize).saturating_sub(gap),
            right.max(end.ceil() as usize).saturating_add(gap),
        ));
        let at = |x: f64| hype.origin_secs + (x + 0.5) * hype.bucket_secs;
        moments.push(Moment {
            start_secs: at(start),
            peak_secs: at(p as f64),
            end_secs: at(end),
            hype: s[p],
            intensity: (s[p] - hype.mean) / hype.std,
        });
    }
    moments
}

/// Sum of `x[i - half ..= i + half]` for every i (prefix sums; the ends see fewer values).
pub(super) fn centred_sum(x: &[f64], half: usize) -> Vec<f64> {
    let mut prefix = Vec::with_capacity(x.len() + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    for v in x {
        acc += v;
        prefix.push(acc);
    }
    (0..x.len())
        .map(|i| prefix[(i + half + 1).min(x.len())] - prefix[i.saturating_sub(half)])
        .collect()
}

/// `x` smoothed by a Gaussian of standard deviation `sigma` buckets (cut at 3σ).
fn gaussian(x: &[f64], sigma: f64) -> Vec<f64> {
    if sigma.is_nan() || sigma <= 0.0 {
        return x.to_vec();
    }
    let radius = (3.0 * sigma).ceil() as usize;
    let kernel: Vec<f64> = (0..=2 * radius)
        .map(|k| {
            let d = k as f64 - radius as f64;
            (-0.5 * (d / sigma).powi(2)).exp()
        })
        .collect();
    let norm: f64 = kernel.iter().sum();
    (0..x.len())
        .map(|i| {
            let mut acc = 0.0;
            for (k, w) in kernel.iter().enumerate() {
                if let Some(j) = (i + k).checked_sub(radius).filter(|&j| j < x.len()) {
                    acc += w * x[j];
                }
            }
            acc / norm
        })
        .collect()
}

pub(super) fn mean_std(x: &[f64]) -> (f64, f64) {
    if x.is_empty() {
        return (0.0, 0.0);
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}
