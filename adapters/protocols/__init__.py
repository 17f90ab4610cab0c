"""Pure decoders and encoders for the device wire protocols the platform speaks."""
