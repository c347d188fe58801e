//! Peak picking shared by the loudness and chat signals: the local maxima of a series above a
//! threshold, highest first, and greedy suppression of neighbours. No notion of time or units:
//! callers convert between indices and seconds.

/// Indices of the local maxima of `series` strictly above `threshold`, highest first (ties:
/// earliest first). A flat top counts once, at its middle; the ends of the series count as
/// lower neighbours. Non-finite values are never maxima.
pub fn local_maxima_above(series: &[f64], threshold: f64) -> Vec<usize> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < series.len() {
        let v = series[i];
        // The run of equal values starting at i.
        let mut j = i;
        while j + 1 < series.len() && series[j + 1] == v {
            j += 1;
        }
        let left_lower = i == 0 || series[i - 1] < v;
        let right_lower = j + 1 == series.len() || series[j + 1] < v;
        if v.is_finite() && v > threshold && left_lower && right_lower {
            found.push(i + (j - i) / 2);
        }
        i = j + 1;
    }
    found.sort_by(|&a, &b| series[b].total_cmp(&series[a]).then(a.cmp(&b)));
    found
}

/// Keep candidates (already in order of preference) that are more than `min_distance` away
/// from every candidate kept before them.
pub fn suppress_neighbours(candidates: &[usize], min_distance: usize) -> Vec<usize> {
    let mut kept: Vec<usize> = Vec::new();
    for &c in candidates {
        if kept.iter().all(|&k| k.abs_diff(c) > min_distance) {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn maxima_are_ordered_highest_first_and_flat_tops_count_once() {
        let s = [0.0, 3.0, 1.0, 5.0, 5.0, 5.0, 2.0, 4.0, 4.0];
        assert_eq!(local_maxima_above(&s, 0.5), vec![4, 7, 1]);
        assert_eq!(local_maxima_above(&s, 3.5), vec![4, 7]);
    }

    #[test]
    fn a_shoulder_is_not_a_maximum() {
        assert_eq!(local_maxima_above(&[1.0, 3.0, 3.0, 5.0, 0.0], 0.0), vec![3]);
        assert!(local_maxima_above(&[f64::NAN, f64::NEG_INFINITY], -1e9).is_empty());
    }

    #[test]
    fn neighbours_within_the_distance_are_dropped() {
        assert_eq!(suppress_neighbours(&[10, 12, 3, 20, 9], 2), vec![10, 3, 20]);
    }

    proptest! {
        #[test]
        fn every_maximum_is_above_threshold_and_above_its_neighbours(
            s in proptest::collection::vec(-10.0f64..10.0, 0..200), t in -5.0f64..5.0
        ) {
            let m = local_maxima_above(&s, t);
            for w in m.windows(2) {
                prop_assert!(s[w[0]] >= s[w[1]]);
            }
            for &i in &m {
                prop_assert!(s[i] > t);
                // Walk off the flat top on both sides: the first different value is lower.
                let left = s[..i].iter().rev().find(|&&x| x != s[i]);
                let right = s[i + 1..].iter().find(|&&x| x != s[i]);
                prop_assert!(left.is_none_or(|&x| x < s[i]));
                prop_assert!(right.is_none_or(|&x| x < s[i]));
            }
            // The global maximum above the threshold is always found first.
            if let Some(best) = s.iter().cloned().filter(|&x| x > t).reduce(f64::max) {
                prop_assert_eq!(s[m[0]], best);
            }
        }
    }
}
