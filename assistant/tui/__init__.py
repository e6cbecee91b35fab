"""The Textual app. Consumes the conversation engine's events; never calls the LLM or a tool except through
the engine, or through a slash command that runs a tool directly."""
