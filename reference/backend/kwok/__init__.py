"""The KWOK data plane: a local mini-service process for each ready pod, given the env, args and files its
container would get."""
