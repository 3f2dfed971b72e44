//! Runbooks: the model authors write ([`model`]), the checks that make one runnable
//! ([`check`]: a 400 naming every problem's path), launch parameters validated against the
//! runbook's JSON Schema ([`params`]), and step templating ([`template`]).

pub mod check;
pub mod model;
pub mod params;
pub mod template;

pub use check::{check, parse, Checked};
pub use model::{Runbook, Selector, Step, StepKind};
