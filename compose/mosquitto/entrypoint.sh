#!/bin/sh
# Generates Mosquitto's password file from the environment, then runs the broker with our config.
# Done at start-up (not at build time) so the credentials live only in compose/.env and in a tmpfs.
set -eu
: "${MQTT_USERNAME:?MQTT_USERNAME is not set: copy compose/.env.example to compose/.env and fill it in}"
: "${MQTT_PASSWORD:?MQTT_PASSWORD is not set: copy compose/.env.example to compose/.env and fill it in}"
umask 077
mosquitto_passwd -c -b /mosquitto/auth/passwd "$MQTT_USERNAME" "$MQTT_PASSWORD"
# The broker drops root privileges to the mosquitto user before it reads the file.
chown mosquitto:mosquitto /mosquitto/auth/passwd
exec mosquitto -c /mosquitto/config/mosquitto.conf
