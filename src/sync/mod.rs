//! Push and pull: the pure plan and its application.
