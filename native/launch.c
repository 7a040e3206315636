/*
 * launch.c: the program `uvm record` runs under strace.
 *
 * strace injects its SIGSTOP into every execve but the one that starts its
 * own child, so the recorded program is started by a second execve: this
 * one's. Before it, launch moves descriptor 3 (the recorder's own stderr)
 * onto 2, so the program writes to the user's terminal while strace's own
 * messages go to the recorder; dup3 and close are not traced calls. Its
 * only traced calls are that execve and, when it fails, exit_group with
 * 127, so it adds exactly two lines to a log.
 *
 * Linux x86-64; build: cc -O2 -static -nostdlib -o launch launch.c
 */
#include <sys/syscall.h>

static long raw_syscall3(long number, long a1, long a2, long a3)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(number), "D"(a1), "S"(a2), "d"(a3)
			 : "rcx", "r11", "memory");
	return ret;
}

/* the initial stack: argc, argv[0..argc-1], NULL, envp..., NULL */
__attribute__((used)) void launch_main(long *stack)
{
	long argc = stack[0];
	char **argv = (char **)&stack[1];
	char **envp = &argv[argc + 1];

	if (raw_syscall3(SYS_dup3, 3, 2, 0) == 2)
		raw_syscall3(SYS_close, 3, 0, 0);
	if (argc >= 2)
		raw_syscall3(SYS_execve, (long)argv[1], (long)&argv[1], (long)envp);
	raw_syscall3(SYS_exit_group, 127, 0, 0);
}

__attribute__((naked, noreturn)) void _start(void)
{
	__asm__ volatile("movq %rsp, %rdi\n"
			 "andq $-16, %rsp\n"
			 "call launch_main\n"
			 "ud2\n");
}
