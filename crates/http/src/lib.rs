//! sigstack-http
