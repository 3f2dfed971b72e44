//! Schedules: when they fire (`spec`), what they are (`model`), where they live and how a
//! tick fires exactly once across processes (`store`), and the loop that fires them
//! (`runner`).

pub mod model;
mod runner;
pub mod spec;
mod store;

pub use model::{Overlap, Schedule, ScheduleInput, ScheduleRun};
pub use spec::Catchup;
pub use store::{MissedTick, GRACE};
