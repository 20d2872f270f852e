/* The switch itself: from one C stack to another, on x86-64 Linux (System V ABI).

   Invariant: a suspended context is a single stack pointer. What its owner needs to
   resume -- the registers a called function must preserve (rbx, rbp, r12-r15), the
   SSE and x87 control words, and the address to return to -- sits on its own stack,
   just above that pointer, in the order switchyard_swap pushes it.

   The other registers need no saving: to the compiler, switchyard_swap is an ordinary
   call, across which they are clobbered anyway. Unlike swapcontext(), nothing here
   asks the kernel for anything (swapcontext saves and restores the signal mask, one
   rt_sigprocmask system call per switch): a switch is a few dozen instructions.

   Shadow stacks (Intel CET) would refuse the "ret" onto another stack (greenlet issue
   #454). setup.py compiles this with -fcf-protection=none, so the module is never
   marked as shadow-stack compatible and a CET-enforcing loader will not mix the two.
*/
#ifndef SWITCHYARD_SWITCH_X86_64_H
#define SWITCHYARD_SWITCH_X86_64_H

#if !defined(__x86_64__) || !defined(__linux__)
#error "switch_x86_64.h is for x86-64 Linux (System V ABI) only"
#endif

#include <stdint.h>

/* Save the running context on its stack, store its stack pointer in *save, load the
   context whose stack pointer is load, and return into it. Returns when some later
   switchyard_swap loads the pointer stored in *save. */
__attribute__((naked, noinline)) static void
switchyard_swap(void **save, void *load)
{
    __asm__(
        "pushq %rbp\n\t"
        "pushq %rbx\n\t"
        "pushq %r12\n\t"
        "pushq %r13\n\t"
        "pushq %r14\n\t"
        "pushq %r15\n\t"
        "subq $8, %rsp\n\t"
        "stmxcsr (%rsp)\n\t"    /* SSE rounding mode and exception masks */
        "fnstcw 4(%rsp)\n\t"    /* x87 precision and rounding */
        "movq %rsp, (%rdi)\n\t" /* *save = the suspended context */
        "movq %rsi, %rsp\n\t"   /* from here on, the other stack */
        "ldmxcsr (%rsp)\n\t"
        "fldcw 4(%rsp)\n\t"
        "addq $8, %rsp\n\t"
        "popq %r15\n\t"
        "popq %r14\n\t"
        "popq %r13\n\t"
        "popq %r12\n\t"
        "popq %rbx\n\t"
        "popq %rbp\n\t"
        "ret\n\t");
}

/* Where the first switch into a new stack returns to: a call of the entry function,
   which switchyard_prepare left in r12. The entry never returns (it leaves its stack
   by a last switch), so nothing follows but a trap. */
__attribute__((naked, noinline)) static void
switchyard_trampoline(void)
{
    __asm__(
        ".cfi_undefined rip\n\t" /* debuggers: the outermost frame of this stack */
        "callq *%r12\n\t"
        "ud2\n\t");
}

/* Make the stack whose highest address is top loadable by switchyard_swap: an initial
   context that returns into the trampoline, which calls entry(). Returns its stack
   pointer. rbp is 0 to end frame-pointer backtraces; the control words are the
   current thread's, as a new thread would inherit them. */
static void *
switchyard_prepare(char *top, void (*entry)(void))
{
    uint64_t *sp = (uint64_t *)((uintptr_t)top & ~(uintptr_t)15) - 8;
    uint32_t mxcsr;
    uint16_t x87cw;
    __asm__("stmxcsr %0" : "=m"(mxcsr));
    __asm__("fnstcw %0" : "=m"(x87cw));
    sp[0] = (uint64_t)mxcsr | (uint64_t)x87cw << 32;
    sp[1] = 0;                             /* r15 */
    sp[2] = 0;                             /* r14 */
    sp[3] = 0;                             /* r13 */
    sp[4] = (uint64_t)(uintptr_t)entry;    /* r12 */
    sp[5] = 0;                             /* rbx */
    sp[6] = 0;                             /* rbp */
    sp[7] = (uint64_t)(uintptr_t)switchyard_trampoline; /* the return address */
    /* After the 8 words are popped, rsp is top: 16-byte aligned, as the ABI wants
       before a call. */
    return sp;
}

#endif /* SWITCHYARD_SWITCH_X86_64_H */
