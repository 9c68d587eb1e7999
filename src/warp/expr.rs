//! PromQL under the warp: durations scaled in the syntax tree, and the unit of an expression.
//!
//! See [`scale_expr`] and [`Units`].

use super::{Error, Speed};
use promql_parser::parser::token::{TokenId, T_ADD, T_DIV, T_LAND, T_LOR, T_LUNLESS, T_MUL, T_SUB};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, BinaryExpr, Call, Expr, Offset};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// `expr` with every duration divided by K: range selectors `[5m]`, subquery ranges and
/// steps `[1h:5m]` and `offset`s. `@` names an absolute time and stays. Durations K does not
/// divide become milliseconds (`[5m]` at K = 7 is `[42857ms]`).
///
/// The result is the syntax tree printed back, so at K = 1 it is the input normalised
/// (spacing, label matchers sorted), which parses to the same tree up to matcher order.
///
/// ```
/// use monlab::warp::{scale_expr, Speed};
/// let k = Speed::new(15).unwrap();
/// assert_eq!(
///     scale_expr("sum by (job) (rate(x_total[5m] offset 1h))", k).unwrap(),
///     "sum by (job) (rate(x_total[20s] offset 4m))"
/// );
/// ```
pub fn scale_expr(expr: &str, k: Speed) -> Result<String, Error> {
    scale_tree(expr, k, false)
}

/// Parses `expr`, naming it in the error.
pub(crate) fn parse(expr: &str) -> Result<Expr, Error> {
    parser::parse(expr).map_err(|message| Error::Promql {
        expr: expr.trim().into(),
        message,
    })
}

/// [`scale_expr`]; with `exact`, a duration K does not divide is an error instead of rounded.
pub(crate) fn scale_tree(expr: &str, k: Speed, exact: bool) -> Result<String, Error> {
    let mut tree = parse(expr)?;
    let mut scaler = Scaler {
        k,
        exact,
        error: None,
    };
    scaler.expr(&mut tree);
    match scaler.error {
        Some(e) => Err(e),
        None => Ok(tree.to_string()),
    }
}

struct Scaler {
    k: Speed,
    exact: bool,
    error: Option<Error>,
}

impl Scaler {
    fn duration(&mut self, d: &mut Duration) {
        let scaled = if self.exact {
            self.k.scale_exact(*d)
        } else {
            Some(self.k.scale(*d))
        };
        let value = super::format_duration(*d);
        match scaled {
            Some(s) if s.is_zero() && !d.is_zero() => {
                self.error.get_or_insert(Error::TooShort {
                    field: "PromQL duration".into(),
                    value,
                    speed: self.k,
                });
            }
            Some(s) => *d = s,
            None => {
                self.error.get_or_insert(Error::Inexact {
                    field: "PromQL duration".into(),
                    value,
                    speed: self.k,
                });
            }
        }
    }

    fn offset(&mut self, offset: &mut Option<Offset>) {
        match offset {
            Some(Offset::Pos(d)) | Some(Offset::Neg(d)) => self.duration(d),
            None => {}
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        match e {
            Expr::Aggregate(a) => {
                self.expr(&mut a.expr);
                if let Some(p) = &mut a.param {
                    self.expr(p);
                }
            }
            Expr::Unary(u) => self.expr(&mut u.expr),
            Expr::Binary(b) => {
                self.expr(&mut b.lhs);
                self.expr(&mut b.rhs);
            }
            Expr::Paren(p) => self.expr(&mut p.expr),
            Expr::Subquery(s) => {
                self.expr(&mut s.expr);
                self.duration(&mut s.range);
                if let Some(step) = &mut s.step {
                    self.duration(step);
                }
                self.offset(&mut s.offset);
            }
            Expr::VectorSelector(v) => self.offset(&mut v.offset),
            Expr::MatrixSelector(m) => {
                self.duration(&mut m.range);
                self.offset(&mut m.vs.offset);
            }
            Expr::Call(c) => {
                for arg in c.args.args.iter_mut() {
                    self.expr(arg);
                }
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
}

/// How a quantity changes when the system runs K times faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Does not change: a count per sample or per window (`increase`), a ratio, a latency
    /// (`histogram_quantile`), a gauge such as `up` or a PSI.
    Plain,
    /// Per second of system time, such as `rate()`: K times larger.
    PerSecond,
    /// System time in seconds, a timestamp (`time()`) or a duration: K times smaller.
    Seconds,
}

impl Unit {
    /// The factor a value in this unit is multiplied by at speed K.
    pub fn factor(self, k: Speed) -> f64 {
        let k = f64::from(k.get());
        match self {
            Unit::Plain => 1.0,
            Unit::PerSecond => k,
            Unit::Seconds => 1.0 / k,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Unit::Plain => "a scale-free value",
            Unit::PerSecond => "a per-second rate",
            Unit::Seconds => "system time in seconds",
        }
    }
}

/// What the rule files say about units: the unit of each recorded series, derived from its
/// expression, and the raw series that hold system time.
///
/// A raw series holds system time when a rule combines it with system time (`time() - x`,
/// or `… / x` and comparisons against such a difference): timestamps and durations pushed by
/// the system. Every other raw series is [`Unit::Plain`], which is right for counters (a
/// sample counts what happened since the last one, and a window holds the same number of
/// samples at any K) and for gauges such as `up`.
#[derive(Debug, Clone, Default)]
pub struct Units {
    recorded: BTreeMap<String, Unit>,
    system_time: BTreeSet<String>,
}

/// One operand while a unit is worked out.
#[derive(Debug, Clone)]
struct Val {
    unit: Unit,
    /// A number written in the expression (or arithmetic of such numbers).
    literal: Option<f64>,
    /// The raw series this value is, up to aggregation and constant factors.
    raw: Option<String>,
}

impl Val {
    fn plain() -> Val {
        Val {
            unit: Unit::Plain,
            literal: None,
            raw: None,
        }
    }
    fn unit(unit: Unit) -> Val {
        Val {
            unit,
            literal: None,
            raw: None,
        }
    }
}

impl Units {
    /// Works out the units from the rules of the given rule files (their YAML text). Rules
    /// may use series recorded in another file, so this repeats until nothing changes.
    pub fn from_rules(files: &[&str]) -> Result<Units, Error> {
        let mut rules = Vec::new();
        for text in files {
            rules.extend(super::files::rules_of(text)?);
        }
        let trees = rules
            .iter()
            .map(|r| parse(&r.expr).map(|t| (r.record.clone(), t)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut units = Units::default();
        // Each pass settles at least one more link of a chain of rules; more passes than
        // rules means a cycle, which Prometheus would not load anyway.
        for _ in 0..=trees.len() {
            let mut next = units.clone();
            for (record, tree) in &trees {
                let mut learned = BTreeSet::new();
                let v = units.value(tree, &mut Vec::new(), &mut Some(&mut learned));
                next.system_time.extend(learned);
                if let Some(name) = record {
                    next.recorded.insert(name.clone(), v.unit);
                }
            }
            if next.recorded == units.recorded && next.system_time == units.system_time {
                return Ok(units);
            }
            units = next;
        }
        Ok(units)
    }

    /// The unit of `expr`'s result.
    pub fn of(&self, expr: &str) -> Result<Unit, Error> {
        Ok(self.value(&parse(expr)?, &mut Vec::new(), &mut None).unit)
    }

    /// The unit a recording rule's series is in, if a rule records it.
    pub fn recorded(&self, metric: &str) -> Option<Unit> {
        self.recorded.get(metric).copied()
    }

    /// Whether the raw series `metric` holds system time (a timestamp or a duration).
    pub fn is_system_time(&self, metric: &str) -> bool {
        self.system_time.contains(metric)
    }

    /// What in `expr` is not scale-invariant: each comparison of a per-second rate or of
    /// system time with a fixed non-zero number, as the text of the comparison.
    pub fn problems(&self, expr: &str) -> Result<Vec<String>, Error> {
        let mut problems = Vec::new();
        self.value(&parse(expr)?, &mut problems, &mut None);
        Ok(problems)
    }

    fn selector(&self, name: Option<&String>) -> Val {
        let Some(name) = name else {
            return Val::plain();
        };
        if let Some(unit) = self.recorded.get(name) {
            return Val::unit(*unit);
        }
        let unit = if self.system_time.contains(name) {
            Unit::Seconds
        } else {
            Unit::Plain
        };
        Val {
            unit,
            literal: None,
            raw: Some(name.clone()),
        }
    }

    fn value(
        &self,
        e: &Expr,
        problems: &mut Vec<String>,
        learned: &mut Option<&mut BTreeSet<String>>,
    ) -> Val {
        match e {
            Expr::NumberLiteral(n) => Val {
                unit: Unit::Plain,
                literal: Some(n.val),
                raw: None,
            },
            Expr::StringLiteral(_) | Expr::Extension(_) => Val::plain(),
            Expr::VectorSelector(v) => self.selector(v.name.as_ref()),
            Expr::MatrixSelector(m) => self.selector(m.vs.name.as_ref()),
            Expr::Paren(p) => self.value(&p.expr, problems, learned),
            Expr::Subquery(s) => self.value(&s.expr, problems, learned),
            Expr::Unary(u) => {
                let mut v = self.value(&u.expr, problems, learned);
                v.literal = v.literal.map(|x| -x);
                v
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.value(p, problems, learned);
                }
                let inner = self.value(&a.expr, problems, learned);
                match a.op.to_string().as_str() {
                    "count" | "count_values" | "group" => Val::plain(),
                    _ => Val {
                        literal: None,
                        ..inner
                    },
                }
            }
            Expr::Call(c) => self.call(c, problems, learned),
            Expr::Binary(b) => self.binary(e, b, problems, learned),
        }
    }

    /// A function's result: rates are per second, timestamps system time, counts plain; the
    /// rest keep the unit of their (first vector) argument.
    fn call(
        &self,
        c: &Call,
        problems: &mut Vec<String>,
        learned: &mut Option<&mut BTreeSet<String>>,
    ) -> Val {
        let args: Vec<Val> = c
            .args
            .args
            .iter()
            .map(|a| self.value(a, problems, learned))
            .collect();
        let main = c
            .args
            .args
            .iter()
            .position(|a| matches!(a.value_type(), ValueType::Vector | ValueType::Matrix))
            .or(if args.is_empty() { None } else { Some(0) })
            .map(|i| args[i].clone());
        match c.func.name {
            "rate" | "irate" | "deriv" => Val::unit(Unit::PerSecond),
            "time" | "timestamp" => Val::unit(Unit::Seconds),
            "count_over_time" | "changes" | "resets" | "absent" | "absent_over_time"
            | "present_over_time" | "histogram_quantile" | "histogram_fraction" => Val::plain(),
            _ => main
                .map(|m| Val { literal: None, ..m })
                .unwrap_or_else(Val::plain),
        }
    }

    /// A binary operation `e`: learns raw series that are system time, reports comparisons
    /// of a time-dependent quantity with a fixed number, and combines the units.
    fn binary(
        &self,
        e: &Expr,
        b: &BinaryExpr,
        problems: &mut Vec<String>,
        learned: &mut Option<&mut BTreeSet<String>>,
    ) -> Val {
        let l = self.value(&b.lhs, problems, learned);
        let r = self.value(&b.rhs, problems, learned);
        let op = b.op.id();
        if b.op.is_comparison_operator() || matches!(op, T_ADD | T_SUB | T_DIV) {
            learn_system_time(&l, &r, learned);
            learn_system_time(&r, &l, learned);
        }
        if !b.op.is_comparison_operator() {
            return combine(op, l, r);
        }
        for (fixed, varying) in [(&l, &r), (&r, &l)] {
            if let Some(x) = fixed.literal {
                if x != 0.0 && varying.literal.is_none() && varying.unit != Unit::Plain {
                    problems.push(format!(
                        "compares {} with the fixed number {x}: `{e}`",
                        varying.unit.describe()
                    ));
                }
            }
        }
        if b.modifier.as_ref().is_some_and(|m| m.return_bool) {
            Val::plain()
        } else if l.literal.is_some() {
            r
        } else {
            l
        }
    }
}

/// A raw series combined with system time is system time itself.
fn learn_system_time(a: &Val, other: &Val, learned: &mut Option<&mut BTreeSet<String>>) {
    if a.unit == Unit::Seconds && a.literal.is_none() {
        if let (Some(raw), Some(set)) = (&other.raw, learned.as_deref_mut()) {
            set.insert(raw.clone());
        }
    }
}

/// The result of a non-comparison binary operator `op` on `l` and `r`.
fn combine(op: TokenId, l: Val, r: Val) -> Val {
    match op {
        T_LAND | T_LUNLESS => Val { literal: None, ..l },
        T_LOR => {
            if l.unit == Unit::Plain {
                Val { literal: None, ..r }
            } else {
                Val { literal: None, ..l }
            }
        }
        T_ADD | T_SUB => {
            let unit = if l.unit == Unit::Seconds || r.unit == Unit::Seconds {
                Unit::Seconds
            } else if l.unit == Unit::PerSecond || r.unit == Unit::PerSecond {
                Unit::PerSecond
            } else {
                Unit::Plain
            };
            let literal = match (l.literal, r.literal) {
                (Some(a), Some(b)) => Some(if op == T_ADD { a + b } else { a - b }),
                _ => None,
            };
            Val {
                unit,
                literal,
                raw: None,
            }
        }
        T_MUL => match (l.literal, r.literal) {
            (Some(a), Some(b)) => Val {
                literal: Some(a * b),
                ..Val::plain()
            },
            (Some(_), None) => r,
            (None, Some(_)) => l,
            (None, None) => Val::unit(multiply(l.unit, r.unit)),
        },
        T_DIV => match (l.literal, r.literal) {
            (Some(a), Some(b)) => Val {
                literal: Some(a / b),
                ..Val::plain()
            },
            (None, Some(_)) => l,
            (Some(_), None) => Val::unit(divide(Unit::Plain, r.unit)),
            (None, None) => Val::unit(divide(l.unit, r.unit)),
        },
        _ => Val { literal: None, ..l },
    }
}

fn multiply(a: Unit, b: Unit) -> Unit {
    match (a, b) {
        (Unit::Plain, u) | (u, Unit::Plain) => u,
        (Unit::PerSecond, Unit::Seconds) | (Unit::Seconds, Unit::PerSecond) => Unit::Plain,
        (u, _) => u,
    }
}

fn divide(a: Unit, b: Unit) -> Unit {
    match (a, b) {
        (u, Unit::Plain) => u,
        (x, y) if x == y => Unit::Plain,
        (Unit::Plain, Unit::PerSecond) => Unit::Seconds,
        (Unit::Plain, Unit::Seconds) => Unit::PerSecond,
        (u, _) => u,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u32) -> Speed {
        Speed::new(n).unwrap()
    }

    fn scaled(expr: &str, n: u32) -> String {
        scale_expr(expr, k(n)).unwrap()
    }

    /// Both parse, and to the same tree up to the order of label matchers, which the
    /// printer sorts: their printed forms are equal.
    fn same_tree(a: &str, b: &str) {
        let print = |e: &str| parser::parse(e).unwrap().to_string();
        assert_eq!(print(a), print(b));
    }

    #[test]
    fn range_selectors_and_offsets_shrink() {
        assert_eq!(scaled("rate(x_total[5m])", 5), "rate(x_total[1m])");
        assert_eq!(
            scaled("rate(x_total[5m] offset 10m)", 5),
            "rate(x_total[1m] offset 2m)"
        );
        assert_eq!(scaled("x offset -1h", 60), "x offset -1m");
        assert_eq!(scaled("x offset 30s", 60), "x offset 500ms");
    }

    #[test]
    fn subquery_range_step_and_offset_shrink() {
        assert_eq!(
            scaled("max_over_time(rate(x_total[5m])[1h:5m] offset 1d)", 15),
            "max_over_time(rate(x_total[20s])[4m:20s] offset 1h36m)"
        );
        // A subquery without a step uses the evaluation interval, which is scaled elsewhere.
        assert_eq!(
            scaled("max_over_time(up[30m:])", 60),
            "max_over_time(up[30s:])"
        );
    }

    #[test]
    fn odd_speeds_give_milliseconds() {
        // 300000 ms / 7 = 42857.14 ms; Prometheus's printer writes 42857ms as 42s857ms.
        let out = scaled("rate(x_total[5m])", 7);
        same_tree(&out, "rate(x_total[42857ms])");
        assert_eq!(out, "rate(x_total[42s857ms])");
        same_tree(
            &scaled("increase(x_total[1m])", 7),
            "increase(x_total[8571ms])",
        );
    }

    #[test]
    fn at_is_absolute_and_stays() {
        let out = scaled("rate(x_total[5m] @ 1700000000 offset 5m)", 5);
        same_tree(&out, "rate(x_total[1m] @ 1700000000 offset 1m)");
        same_tree(&scaled("x @ start()", 5), "x @ start()");
    }

    #[test]
    fn nested_functions_grouping_matching_bool_and_strings_survive() {
        let cases = [
            (
                r#"histogram_quantile(0.99, sum by (job, le) (rate(d_bucket{route=~"/a|/b", le=~"1|1\\.0"}[5m])))"#,
                r#"histogram_quantile(0.99, sum by (job, le) (rate(d_bucket{route=~"/a|/b", le=~"1|1\\.0"}[1m])))"#,
            ),
            (
                "sum without (instance) (rate(a_total[10m])) / on (job) group_left sum by (job) (rate(b_total[10m]))",
                "sum without (instance) (rate(a_total[2m])) / on (job) group_left sum by (job) (rate(b_total[2m]))",
            ),
            (
                "rate(a_total[5m]) > bool ignoring (code) rate(b_total[10m] offset 5m)",
                "rate(a_total[1m]) > bool ignoring (code) rate(b_total[2m] offset 1m)",
            ),
            (
                r#"label_replace(rate(a_total{x!="y"}[5m]), "dst", "$1", "src", "(.*)")"#,
                r#"label_replace(rate(a_total{x!="y"}[1m]), "dst", "$1", "src", "(.*)")"#,
            ),
            (
                "absent_over_time(a_total[5m]) and on () count(up == 1) > 0",
                "absent_over_time(a_total[1m]) and on () count(up == 1) > 0",
            ),
            (
                "topk(3, sum by (route) (increase(a_total[15m]))) unless b",
                "topk(3, sum by (route) (increase(a_total[3m]))) unless b",
            ),
        ];
        for (input, want) in cases {
            let out = scaled(input, 5);
            same_tree(&out, want);
        }
    }

    #[test]
    fn speed_one_is_the_identity() {
        for e in [
            "sum by (job) (rate(x_total[5m]))",
            "max_over_time(x[1h:5m] offset 1w)",
            r#"a{b="c\"d"} / ignoring (e) group_right (f) g offset 5m"#,
            "time() - t > 1.5 * s",
            "-x",
        ] {
            let out = scaled(e, 1);
            same_tree(&out, e);
            // Printing is stable: the printed text prints to itself.
            assert_eq!(scaled(&out, 1), out);
        }
    }

    #[test]
    fn a_bad_expression_names_itself() {
        let err = scale_expr("rate(x[5m]", k(5)).unwrap_err().to_string();
        assert!(err.contains("rate(x[5m]"), "{err}");
    }

    #[test]
    fn exact_scaling_refuses_remainders() {
        assert!(scale_tree("rate(x[5m])", k(7), true).is_err());
        assert!(scale_tree("rate(x[5m])", k(5), true).is_ok());
    }

    const RULES: &str = r#"
groups:
  - name: g
    rules:
      - record: job:x:rate5m
        expr: sum by (job) (rate(x_total[5m]))
      - record: job:x_errors:ratio_rate5m
        expr: sum by (job) (rate(x_total{code="500"}[5m])) / job:x:rate5m
      - record: job:x:increase5m
        expr: sum by (job) (increase(x_total[5m]))
      - alert: Stale
        expr: time() - last_success_timestamp_seconds > 1.5 * schedule_seconds
"#;

    #[test]
    fn units_follow_the_expression() {
        let u = Units::from_rules(&[RULES]).unwrap();
        assert_eq!(u.recorded("job:x:rate5m"), Some(Unit::PerSecond));
        assert_eq!(u.recorded("job:x_errors:ratio_rate5m"), Some(Unit::Plain));
        assert_eq!(u.recorded("job:x:increase5m"), Some(Unit::Plain));
        assert!(u.is_system_time("last_success_timestamp_seconds"));
        assert!(u.is_system_time("schedule_seconds"));
        assert!(!u.is_system_time("x_total"));
        assert_eq!(u.of("job:x:rate5m * 300").unwrap(), Unit::PerSecond);
        assert_eq!(u.of("rate(x_total[5m]) * 300").unwrap(), Unit::PerSecond);
        assert_eq!(u.of("job:x:rate5m > bool 1").unwrap(), Unit::Plain);
        assert_eq!(
            u.of("(time() - last_success_timestamp_seconds) / schedule_seconds")
                .unwrap(),
            Unit::Plain
        );
        assert_eq!(
            u.of("histogram_quantile(0.5, rate(d_bucket[5m]))").unwrap(),
            Unit::Plain
        );
        assert_eq!(u.of("1 / job:x:rate5m").unwrap(), Unit::Seconds);
    }

    #[test]
    fn fixed_floors_on_rates_and_times_are_problems() {
        let u = Units::from_rules(&[RULES]).unwrap();
        let p = |e: &str| u.problems(e).unwrap();
        assert_eq!(p("job:x:rate5m > 0.1").len(), 1);
        assert_eq!(p("0.1 < sum(rate(x_total[1m]))").len(), 1);
        assert_eq!(p("time() - last_success_timestamp_seconds > 3600").len(), 1);
        assert!(p("job:x:rate5m > 0").is_empty());
        assert!(p("job:x:increase5m > 30").is_empty());
        assert!(p("job:x_errors:ratio_rate5m > (14.4 * 0.01)").is_empty());
        assert!(p("time() - last_success_timestamp_seconds > 1.5 * schedule_seconds").is_empty());
        assert!(p("job:x:rate5m > 2 * job:x:rate5m offset 1h").is_empty());
    }
}
