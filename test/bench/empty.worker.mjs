// A bare worker running an empty module (the reference for the process-spawn benchmark).
