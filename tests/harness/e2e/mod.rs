//! The end-to-end harness: the scenario's media and CDN (`media`), every fake at once and the
//! configuration pointing at them (`world`), the harness as SQS event source and clock
//! (`pump`), the scenario's cast and verdict (`scenario`), and the run of it (`run`).

pub mod faulty;
pub mod media;
pub mod pump;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod world;
