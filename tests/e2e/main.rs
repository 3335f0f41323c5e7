//! End-to-end tests: each starts a real Herald on 127.0.0.1:0 with its own
//! SQLite file and talks HTTP to it, reading streams with a real SSE parser.

mod harness;

mod admin;
mod auth;
mod cli;
mod crash;
mod errors;
mod isolation;
mod openapi;
mod publish;
mod replay;
mod retention;
mod stream;
