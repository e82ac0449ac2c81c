//! Latency: a log-normal fitted to a version's p50 and p99, and the
//! Prometheus histogram its requests are counted in.

use rand_distr::{Binomial, Distribution, LogNormal};

use crate::sim::rng::SimRng;

/// Upper bounds (seconds) of the latency buckets, dense enough around the
/// usual p50s and p99s that `histogram_quantile` lands close to the truth.
pub const BUCKETS: [f64; 18] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0,
    10.0,
];
/// The finite buckets and `+Inf`.
const SLOTS: usize = BUCKETS.len() + 1;

/// The standard normal's 99th percentile.
const Z99: f64 = 2.326_347_874;

/// Requests counted by latency: per-bucket counts (not yet cumulative) and the sum.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: [u64; SLOTS],
    pub sum: f64,
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(le, cumulative count)` for every finite bucket, then `+Inf`.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY));
        bounds.zip(self.counts.iter().scan(0u64, |acc, c| {
            *acc += c;
            Some(*acc)
        }))
    }

    pub fn observe(&mut self, seconds: f64) {
        let slot = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
    }
}

/// A version's latency distribution at one moment.
#[derive(Debug, Clone)]
pub struct Latency {
    mu: f64,
    sigma: f64,
    /// Chance of a request falling in each slot.
    share: [f64; SLOTS],
    /// Mean latency of the requests falling in each slot.
    mean: [f64; SLOTS],
}

impl Latency {
    /// The log-normal whose median is `p50_ms` and 99th percentile `p99_ms`.
    pub fn fit(p50_ms: f64, p99_ms: f64) -> Self {
        let p50 = (p50_ms / 1000.0).max(1e-6);
        let p99 = (p99_ms / 1000.0).max(p50);
        let mu = p50.ln();
        let sigma = ((p99.ln() - mu) / Z99).max(1e-6);
        let cdf = |x: f64| {
            if x.is_infinite() {
                1.0
            } else {
                phi((x.ln() - mu) / sigma)
            }
        };
        // The partial expectation E[X; X <= x] of a log-normal.
        let partial = |x: f64| {
            let whole = (mu + sigma * sigma / 2.0).exp();
            if x.is_infinite() {
                whole
            } else {
                whole * phi((x.ln() - mu - sigma * sigma) / sigma)
            }
        };
        let mut share = [0.0; SLOTS];
        let mut mean = [0.0; SLOTS];
        let mut lower = 0.0;
        for (i, upper) in BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .enumerate()
        {
            let p = cdf(upper) - if lower > 0.0 { cdf(lower) } else { 0.0 };
            share[i] = p.max(0.0);
            let mass = partial(upper) - if lower > 0.0 { partial(lower) } else { 0.0 };
            mean[i] = if p > 1e-12 {
                (mass / p).clamp(lower, if upper.is_finite() { upper } else { f64::MAX })
            } else if upper.is_finite() {
                f64::midpoint(lower, upper)
            } else {
                lower * 1.5
            };
            lower = upper;
        }
        Self {
            mu,
            sigma,
            share,
            mean,
        }
    }

    /// Counts `n` requests into `hist`: how many land in each bucket is one
    /// multinomial draw, and each bucket adds its mean to the sum, so large
    /// request counts cost the same as small ones.
    pub fn record(&self, n: u64, hist: &mut Histogram, rng: &mut SimRng) {
        let mut left = n;
        let mut mass = 1.0;
        for i in 0..SLOTS {
            if left == 0 {
                break;
            }
            let k = if i == SLOTS - 1 || mass <= 0.0 {
                left
            } else {
                let p = (self.share[i] / mass).clamp(0.0, 1.0);
                Binomial::new(left, p).map_or(0, |b| b.sample(rng))
            };
            hist.counts[i] += k;
            hist.sum += k as f64 * self.mean[i];
            left -= k;
            mass -= self.share[i];
        }
    }

    /// One request's latency in seconds (for an access log line).
    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        LogNormal::new(self.mu, self.sigma).map_or(self.mu.exp(), |d| d.sample(rng))
    }
}

/// The standard normal CDF, through the complementary error function.
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// erfc with a fractional error below 1.2e-7 everywhere (a Chebyshev fit),
/// which is far finer than any bucket boundary needs.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::scrape::histogram_quantile;

    fn quantile(h: &Histogram, q: f64) -> f64 {
        let b: Vec<(f64, f64)> = h.cumulative().map(|(le, c)| (le, c as f64)).collect();
        histogram_quantile(q, &b).unwrap()
    }

    #[test]
    fn phi_is_the_normal_cdf() {
        assert!((phi(0.0) - 0.5).abs() < 1e-7);
        assert!((phi(Z99) - 0.99).abs() < 1e-6);
        assert!((phi(-1.96) - 0.025).abs() < 1e-4);
    }

    #[test]
    fn histogram_quantile_recovers_p50_and_p99() {
        let mut rng = SimRng::new(7);
        for (p50, p99) in [(45.0, 220.0), (60.0, 400.0), (350.0, 2600.0), (40.0, 180.0)] {
            let mut h = Histogram::default();
            Latency::fit(p50, p99).record(200_000, &mut h, &mut rng);
            assert_eq!(h.count(), 200_000);
            let got99 = quantile(&h, 0.99) * 1000.0;
            let got50 = quantile(&h, 0.5) * 1000.0;
            assert!((got99 / p99 - 1.0).abs() < 0.15, "p99 {got99} vs {p99}");
            assert!((got50 / p50 - 1.0).abs() < 0.2, "p50 {got50} vs {p50}");
            // The mean of a log-normal is exp(mu + sigma²/2).
            let sigma = (p99 / p50).ln() / Z99;
            let mean = p50 / 1000.0 * (sigma * sigma / 2.0).exp();
            let got_mean = h.sum / h.count() as f64;
            assert!(
                (got_mean / mean - 1.0).abs() < 0.03,
                "mean {got_mean} vs {mean}"
            );
        }
    }

    #[test]
    fn observe_picks_the_right_bucket() {
        let mut h = Histogram::default();
        h.observe(0.2);
        h.observe(11.0);
        let cum: Vec<(f64, u64)> = h.cumulative().collect();
        assert_eq!(cum[4], (0.1, 0));
        assert_eq!(cum[5], (0.2, 1));
        assert_eq!(cum[BUCKETS.len() - 1], (10.0, 1));
        assert_eq!(cum[BUCKETS.len()].1, 2);
    }
}
