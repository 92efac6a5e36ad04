//! STS Query API requests (signed and unsigned) and their XML answers.
