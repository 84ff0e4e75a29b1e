//! sigstack-tlog
