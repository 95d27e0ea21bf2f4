"""Vehicle sources: GNSS (NMEA), CAN (SLCAN/SocketCAN + DBC), OBD-II (ELM327), power."""
