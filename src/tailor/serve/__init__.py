"""Server entry points: thin translations between a server's protocol and tailor's core."""
