//! Black-box tests of the reference server over HTTP on 127.0.0.1:0 (one test binary, so
//! the crate links once).

mod bad_input;
mod binary;
mod canaries;
mod clients;
mod code;
mod common;
mod coverage;
mod deploy;
mod device;
mod far_side;
mod faults;
mod forms;
mod fuzz;
mod github;
mod html;
mod keys;
mod limits;
mod live;
mod load;
mod mutation;
mod open_model;
mod prometheus;
mod races;
mod real_servers;
mod runner;
mod snapshots;
mod tap;
mod third_party;
mod tidy;
mod tls;
mod token;
mod variables;
mod workflow;
