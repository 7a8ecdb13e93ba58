/*
 * replay.c - runs a fuzz target over its committed seed corpus without
 * libFuzzer, so every build of the test suite (gcc, ASan+UBSan) checks that
 * the decoders still handle the corpus. Usage: replay DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Largest corpus file replayed; seeds are small. */
#define REPLAY_MAX_INPUT (1u << 20)

static int replay_file(const char *path, uint8_t *buf)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, REPLAY_MAX_INPUT, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

int main(int argc, char **argv)
{
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    char path[4096];
    struct dirent *de;
    int i, count = 0;
    DIR *d;

    if (buf == NULL)
        return 2;
    for (i = 1; i < argc; i++) {
        d = opendir(argv[i]);
        if (d == NULL) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            free(buf);
            return 2;
        }
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            if (replay_file(path, buf) == 0)
                count++;
        }
        closedir(d);
    }
    free(buf);
    printf("replayed %d inputs\n", count);
    return count > 0 ? 0 : 1;
}
