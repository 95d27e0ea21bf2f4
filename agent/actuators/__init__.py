"""Relay, door locks, Wi-Fi, reboot: one interface each, a real and a simulated backend."""
