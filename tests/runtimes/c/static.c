/* A statically linked program (cc -static): no PT_INTERP, so LD_PRELOAD
 * cannot cover it. rampart reports its exec with a `status` line. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("{\"case\":\"static-child\",\"pid\":%d,\"argc\":%d}\n", (int)getpid(), argc);
    return 0;
}
