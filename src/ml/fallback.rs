//! The business rules that decide when the model cannot: a small decision tree a credit officer
//! would write. Worse than the model (it ignores most of the signal) but always available.

use super::features::{Employment, Features};

/// The rules' decision: `true` to decline.
pub(crate) fn declines(f: &Features) -> bool {
    // Missing values take the cautious branch.
    if f.employment.is_none_or(|e| e == Employment::Unemployed) {
        return true;
    }
    if f.debt_ratio.is_none_or(|d| d > 0.45) {
        return true;
    }
    f.income.is_none_or(|i| i < 20_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::features::Region;

    #[test]
    fn the_tree() {
        let f = Features {
            age: Some(30.0),
            income: Some(50_000.0),
            debt_ratio: Some(0.2),
            credit_history_months: Some(24.0),
            employment: Some(Employment::Employed),
            region: Some(Region::East),
        };
        assert!(!declines(&f));
        assert!(declines(&Features {
            employment: Some(Employment::Unemployed),
            ..f.clone()
        }));
        assert!(declines(&Features {
            debt_ratio: Some(0.6),
            ..f.clone()
        }));
        assert!(declines(&Features {
            income: Some(10_000.0),
            ..f.clone()
        }));
        assert!(declines(&Features { income: None, ..f }));
    }
}
