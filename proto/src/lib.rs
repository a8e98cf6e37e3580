//! vantage.agent.v1
