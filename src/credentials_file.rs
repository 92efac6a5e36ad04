//! The shared credentials file: render, merge, write atomically, read back for --check.
