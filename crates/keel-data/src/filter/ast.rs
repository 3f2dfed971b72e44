//! The parsed form of a filter or rule expression. Cheap to clone and shareable across
//! threads, so callers can cache parsed rules and compile them per request.

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Every part must hold. An empty list is true (the empty expression).
    And(Vec<Expr>),
    /// At least one part must hold. Never empty.
    Or(Vec<Expr>),
    /// One comparison.
    Cmp(Box<Cmp>),
}

/// `left op right`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmp {
    pub left: Operand,
    pub op: Op,
    /// The `?` form (`?=`, `?~`, …): at least one element of a multi-valued operand matches.
    pub any: bool,
    pub right: Operand,
    /// Character position of the operator in the source (0-based).
    pub pos: usize,
}

/// A comparison operator (without its `?` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    /// `~`: LIKE / contains.
    Like,
    /// `!~`: NOT LIKE.
    NotLike,
}

impl Op {
    /// The operator as written in an expression (without `?`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Neq => "!=",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Like => "~",
            Op::NotLike => "!~",
        }
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A quoted string, escapes resolved.
    Str(String),
    /// An integer literal that fits in `i64`.
    Int(i64),
    /// Any other number literal.
    Float(f64),
    Bool(bool),
    Null,
    /// A field path, `@request.*`, `@collection.*` or a datetime macro.
    Path(Path),
}

/// An identifier operand, split into its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub root: Root,
    /// The dotted parts after the root (for `Root::Field` the first part is the field name).
    pub segments: Vec<String>,
    pub modifier: Option<Modifier>,
    /// Character position of the identifier in the source (0-based).
    pub pos: usize,
    /// The identifier as written (for error messages).
    pub raw: String,
}

/// Where a path starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// A field of the collection the expression is about.
    Field,
    /// `@request.auth.*`
    Auth,
    /// `@request.body.*` (also the older `@request.data.*`)
    Body,
    /// `@request.query.*`
    Query,
    /// `@request.headers.*`
    Headers,
    /// `@request.method`
    Method,
    /// `@request.context`
    Context,
    /// `@collection.<name>[:alias].*`
    Collection { name: String, alias: Option<String> },
    /// `@now`, `@todayStart`, …
    Macro(Macro),
}

/// A `:modifier` at the end of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Isset,
    Length,
    Each,
    Lower,
}

/// A datetime macro, evaluated in UTC from the compile context's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Macro {
    Now,
    Second,
    Minute,
    Hour,
    Weekday,
    Day,
    Month,
    Year,
    TodayStart,
    TodayEnd,
    MonthStart,
    MonthEnd,
    YearStart,
    YearEnd,
}

impl Macro {
    /// The macro for `name` (without `@`).
    pub fn from_name(name: &str) -> Option<Macro> {
        Some(match name {
            "now" => Macro::Now,
            "second" => Macro::Second,
            "minute" => Macro::Minute,
            "hour" => Macro::Hour,
            "weekday" => Macro::Weekday,
            "day" => Macro::Day,
            "month" => Macro::Month,
            "year" => Macro::Year,
            "todayStart" => Macro::TodayStart,
            "todayEnd" => Macro::TodayEnd,
            "monthStart" => Macro::MonthStart,
            "monthEnd" => Macro::MonthEnd,
            "yearStart" => Macro::YearStart,
            "yearEnd" => Macro::YearEnd,
            _ => return None,
        })
    }
}

impl Expr {
    /// Calls `f` on every comparison of the expression.
    pub fn for_each_cmp<'a>(&'a self, f: &mut dyn FnMut(&'a Cmp)) {
        match self {
            Expr::And(parts) | Expr::Or(parts) => parts.iter().for_each(|p| p.for_each_cmp(f)),
            Expr::Cmp(c) => f(c),
        }
    }
}
