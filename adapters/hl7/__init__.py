"""HL7 v2 over MLLP: framing, a fast tokenizer for the fields the hub needs, and ACKs.

Framing (``framing``) is separate from tokenizing (``message``), which is separate from the
acknowledgement builder (``ack``); none of them holds clinical logic.
"""
