// A tiny no_std Rust program named "hyper" whose symbols look like hyper's:
// a seed for FuzzAnalyze and a small fixture for the probe matcher.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

pub mod proto {
    pub mod h1 {
        pub trait Http1Transaction {
            fn parse(buf: &[u8]) -> usize;
            fn encode(buf: &mut [u8]) -> usize;
        }
        pub mod role {
            pub struct Server;
            pub struct Client;
            impl super::Http1Transaction for Server {
                #[inline(never)]
                fn parse(buf: &[u8]) -> usize {
                    // Indexing keeps a panic location with this file's path.
                    buf[3] as usize + buf.len()
                }
                #[inline(never)]
                fn encode(buf: &mut [u8]) -> usize {
                    buf[1] = 7;
                    buf.len()
                }
            }
        }
        pub mod dispatch {
            pub struct Dispatcher<D> {
                pub d: D,
            }
            impl<D: Copy + Into<u64>> Dispatcher<D> {
                #[inline(never)]
                pub fn poll_catch(&self) -> u64 {
                    self.d.into() * 3
                }
            }
        }
    }
}

use proto::h1::Http1Transaction;

// core is prebuilt with unwinding; with panic=abort nothing calls this.
#[no_mangle]
pub extern "C" fn rust_eh_personality() {}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let mut buf = [1u8, 2, 3, 4];
    let n = proto::h1::role::Server::parse(core::hint::black_box(&buf));
    let m = proto::h1::role::Server::encode(core::hint::black_box(&mut buf));
    let a = proto::h1::dispatch::Dispatcher { d: core::hint::black_box(n as u32) }.poll_catch();
    let b = proto::h1::dispatch::Dispatcher { d: core::hint::black_box(m as u8) }.poll_catch();
    let code = (a + b) as i64;
    unsafe {
        core::arch::asm!("syscall", in("rax") 60, in("rdi") code, options(noreturn));
    }
}
