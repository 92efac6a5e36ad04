//! The aws-credfile command: runs, prints an error once, and exits with its code.

fn main() {}
