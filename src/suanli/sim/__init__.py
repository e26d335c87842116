"""The fleet simulator: seeded realistic fleets, an asyncio driver of N agents, and a ledger of what was sent."""
