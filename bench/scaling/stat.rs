//! A timing over repeats: median, min, max and the samples themselves.
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: Vec<f64>,
}

impl Stat {
    /// The median of an even count is the mean of the two middle samples.
    pub fn of(samples: Vec<f64>) -> Stat {
        assert!(!samples.is_empty(), "a measurement without samples");
        let mut v = samples.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Stat {
            median,
            min: v[0],
            max: v[n - 1],
            samples,
        }
    }
}
