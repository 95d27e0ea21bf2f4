"""Orders received over MQTT (the only package that imports aiomqtt)."""
