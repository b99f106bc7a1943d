import Testing
@testable import Engine
@Test func smoke() throws { let t = try Tensor([1.0 as Float, 2, 3]); #expect(try t.sum().item() == 6) }
