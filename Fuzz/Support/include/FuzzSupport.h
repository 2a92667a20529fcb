#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver, for a main of our own (SwiftPM names an executable's entry point itself).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// Runs libFuzzer with the command line, calling `callback` per input.
int fanbench_fuzz_main(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));
