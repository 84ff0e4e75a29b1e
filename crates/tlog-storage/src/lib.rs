//! sigstack-tlog-storage
