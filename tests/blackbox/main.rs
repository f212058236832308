//! Black-box tests of the reference server over HTTP on 127.0.0.1:0 (one test binary, so
//! the crate links once).

mod binary;
mod code;
mod common;
mod coverage;
mod device;
mod far_side;
mod faults;
mod live;
mod load;
mod mutation;
mod runner;
mod snapshots;
mod third_party;
mod token;
